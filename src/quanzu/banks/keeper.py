"""Keeps each process's screening index current.

At start the index is built from the database. A transaction that changes a watch entry (or a
bank) announces it: after commit this process refreshes those entries at once, and on PostgreSQL
a NOTIFY sent with the commit reaches every other process's listener (`kit/listener.py`). When
that listener loses its connection the whole index is rebuilt once it is back, since
notifications sent meanwhile are lost.

A watch created in the transaction (intake's, for every high-risk warning) travels with its
identifiers: no process reads it back. Nobody else can change it before the commit, and a later
change is announced after it, so what the transaction wrote is what every index should hold.
Other changes (an end, an extension, an expiry) name only the watch, and each process reads it
back after the commit."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading

from sqlalchemy.orm import Session, sessionmaker

from quanzu.banks import repository
from quanzu.banks.index import IndexedIdentifier, WatchIndex
from quanzu.kit.crypto import PiiCipher
from quanzu.kit.db import after_commit, before_commit, notify_at_commit
from quanzu.kit.listener import PgListener

log = logging.getLogger(__name__)
CHANNEL = "quanzu_watch"
BANKS_CHANGED = "banks"  # payload meaning "reload the banks' blinding keys"
CREATED = "new="  # payload prefix: watches created, with their identifiers (JSON)


_CHANGED = "quanzu.watch.changed"  # a list: a rolled-back savepoint's changes go with it
_CREATED = "quanzu.watch.created"  # a list too: (watch id, its identifiers)
_KEEPER = "quanzu.watch.keeper"
_IDS_PER_NOTIFY = 500  # a NOTIFY payload must stay under 8,000 bytes
_CREATED_BYTES = 7000  # created watches per NOTIFY: as many as fit in this


def announce_watch_change(session: Session, keeper: WatchKeeper | None, watch_ids: list[int]) -> None:
    """Called in the changing transaction: other processes hear of it with the commit, this one
    right after. A transaction's changes go out together (a group commit's warnings: one
    notification and one refresh, not one per warning)."""
    session.info.setdefault(_CHANGED, []).extend(watch_ids)
    session.info[_KEEPER] = keeper
    before_commit(session, _announce_changes)


def announce_watch_created(
    session: Session, keeper: WatchKeeper | None, watch_id: int, identifiers: list[IndexedIdentifier]
) -> None:
    """Called in the transaction that creates the watch, with all its identifiers."""
    session.info.setdefault(_CREATED, []).append((watch_id, identifiers))
    session.info[_KEEPER] = keeper
    before_commit(session, _announce_changes)


def _announce_changes(session: Session) -> None:
    watch_ids: list[int] = list(dict.fromkeys(session.info.pop(_CHANGED, [])))
    changed = set(watch_ids)  # changed again after its creation: read back like any change
    created = [(w, ids) for w, ids in session.info.pop(_CREATED, []) if w not in changed]
    keeper: WatchKeeper | None = session.info.pop(_KEEPER, None)
    for start in range(0, len(watch_ids), _IDS_PER_NOTIFY):
        _announce(session, keeper, ",".join(map(str, watch_ids[start : start + _IDS_PER_NOTIFY])))
    for payload in _created_payloads(created):
        _announce(session, keeper, CREATED + payload)
    if keeper is not None and watch_ids:
        after_commit(session, lambda: keeper.refresh(watch_ids))
    if keeper is not None and created:
        after_commit(session, lambda: keeper.add_created(created))


def _created_payloads(created: list[tuple[int, list[IndexedIdentifier]]]) -> list[str]:
    """The created watches as JSON arrays `[[watch id, [[kind, bidx, value_enc base64], …]], …]`,
    cut to fit NOTIFY's payload limit. The identifiers travel encrypted, as they are stored."""
    payloads: list[str] = []
    chunk: list[str] = []
    size = 0
    for watch_id, identifiers in created:
        keys = [[i.kind, i.bidx, base64.b64encode(i.value_enc).decode()] for i in identifiers]
        item = json.dumps([watch_id, keys], separators=(",", ":"))
        if chunk and size + len(item) > _CREATED_BYTES:
            payloads.append(f"[{','.join(chunk)}]")
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        payloads.append(f"[{','.join(chunk)}]")
    return payloads


def _created_from(payload: str) -> list[tuple[int, list[IndexedIdentifier]]]:
    return [
        (
            watch_id,
            [IndexedIdentifier(watch_id, kind, bidx, base64.b64decode(enc)) for kind, bidx, enc in keys],
        )
        for watch_id, keys in json.loads(payload)
    ]


def announce_banks_change(session: Session, keeper: WatchKeeper | None) -> None:
    _announce(session, keeper, BANKS_CHANGED)
    if keeper is not None:
        after_commit(session, keeper.refresh_banks)


def _announce(session: Session, keeper: WatchKeeper | None, change: str) -> None:
    notify_at_commit(session, CHANNEL, f"{keeper.origin if keeper else ''}:{change}")


class WatchKeeper:
    def __init__(self, factory: sessionmaker[Session], cipher: PiiCipher) -> None:
        self.index = WatchIndex(cipher)
        # Tags this keeper's notifications: it applies its own changes right after commit, and
        # applying them again when its listener hears them would double the index work.
        self.origin = secrets.token_hex(8)
        self._factory = factory
        self._cipher = cipher
        self._lock = threading.Lock()  # a refresh never lands on an index about to be replaced

    def attach(self, listener: PgListener) -> None:
        """Hears other processes' changes; after a lost connection, rebuilds (changes announced
        meanwhile are gone)."""
        listener.on(CHANNEL, self._apply)
        listener.on_reconnect(self.rebuild)

    def start(self) -> None:
        """Builds the index; the process's listener is started first, so no change committed
        after the build's snapshot can be missed."""
        self.rebuild()

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

    def add_created(self, created: list[tuple[int, list[IndexedIdentifier]]]) -> None:
        with self._lock:
            for watch_id, identifiers in created:
                self.index.replace(watch_id, identifiers)

    def refresh_banks(self) -> None:
        with self._lock, self._factory() as session:
            self.index.set_banks(repository.bank_keys(session, self._cipher))

    def _apply(self, payload: str) -> None:
        origin, _, change = payload.partition(":")
        if origin == self.origin:
            return
        if change == BANKS_CHANGED:
            self.refresh_banks()
        elif change.startswith(CREATED):
            self.add_created(_created_from(change.removeprefix(CREATED)))
        else:
            self.refresh([int(p) for p in change.split(",") if p])
