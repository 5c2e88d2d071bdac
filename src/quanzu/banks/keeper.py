"""Keeps each process's screening index current.

At start the index is built from the database. A transaction that changes a watch entry (or a
bank) announces it: after commit this process refreshes those entries at once, and on PostgreSQL
a NOTIFY sent with the commit reaches every other process's listener. A listener that loses its
connection rebuilds the whole index once it is back, since notifications sent meanwhile are lost."""

from __future__ import annotations

import logging
import secrets
import threading

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from quanzu.banks import repository
from quanzu.banks.index import WatchIndex
from quanzu.kit.crypto import PiiCipher
from quanzu.kit.db import after_commit, is_postgres, libpq_url

log = logging.getLogger(__name__)
CHANNEL = "quanzu_watch"
BANKS_CHANGED = "banks"  # payload meaning "reload the banks' blinding keys"
RECONNECT_SECONDS = 1.0


def announce_watch_change(session: Session, keeper: WatchKeeper | None, watch_ids: list[int]) -> None:
    """Called in the changing transaction: other processes hear of it with the commit, this one
    right after."""
    _announce(session, keeper, ",".join(map(str, watch_ids)))
    if keeper is not None:
        after_commit(session, lambda: keeper.refresh(watch_ids))


def announce_banks_change(session: Session, keeper: WatchKeeper | None) -> None:
    _announce(session, keeper, BANKS_CHANGED)
    if keeper is not None:
        after_commit(session, keeper.refresh_banks)


def _announce(session: Session, keeper: WatchKeeper | None, change: str) -> None:
    if is_postgres(session):
        payload = f"{keeper.origin if keeper else ''}:{change}"
        session.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": payload})


class WatchKeeper:
    def __init__(self, engine: Engine, factory: sessionmaker[Session], cipher: PiiCipher) -> None:
        self.index = WatchIndex(cipher)
        # Tags this keeper's notifications: it applies its own changes right after commit, and
        # applying them again when its listener hears them would double the index work.
        self.origin = secrets.token_hex(8)
        self._engine = engine
        self._factory = factory
        self._cipher = cipher
        self._lock = threading.Lock()  # a refresh never lands on an index about to be replaced
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._engine.dialect.name == "postgresql":
            connected = threading.Event()
            self._thread = threading.Thread(
                target=self._listen_forever, args=(connected,), name="quanzu-watch-listener", daemon=True
            )
            self._thread.start()
            connected.wait(timeout=10)  # listening before the build: no change falls in between
        self.rebuild()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def rebuild(self) -> None:
        fresh = WatchIndex(self._cipher)
        with self._lock, self._factory() as session:
            fresh.set_banks(repository.bank_keys(session, self._cipher))
            fresh.load(repository.active_identifiers(session))
            self.index = fresh  # one reference swap: screening never sees a half-built index
        log.info("screening index built: %d watch entries", len(fresh))

    def refresh(self, watch_ids: list[int]) -> None:
        with self._lock, self._factory() as session:
            found = repository.active_identifiers(session, watch_ids)
            for watch_id in watch_ids:
                self.index.replace(watch_id, [i for i in found if i.watch_id == watch_id])

    def refresh_banks(self) -> None:
        with self._lock, self._factory() as session:
            self.index.set_banks(repository.bank_keys(session, self._cipher))

    def _listen_forever(self, connected: threading.Event) -> None:
        url = libpq_url(self._engine)
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    connected.set()
                    if not first:
                        self.rebuild()  # notifications sent while disconnected are gone
                    first = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._apply(note.payload)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("watch listener lost its connection; reconnecting")
                self._stop.wait(RECONNECT_SECONDS)

    def _apply(self, payload: str) -> None:
        origin, _, change = payload.partition(":")
        if origin == self.origin:
            return
        if change == BANKS_CHANGED:
            self.refresh_banks()
        else:
            self.refresh([int(p) for p in change.split(",") if p])
