"""One PostgreSQL LISTEN connection per process, for every channel the process cares about.

Other processes announce changes with `pg_notify` inside their transactions, so a notification
arrives exactly when (and only if) the change commits. The listener runs on its own thread with
its own psycopg connection (outside the pool); when the connection is lost it reconnects with a
growing pause, and tells every `on_reconnect` callback, since notifications sent while it was
away are gone (the screening index rebuilds itself, for instance)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql
from sqlalchemy import Engine

from quanzu.kit.db import libpq_url

log = logging.getLogger(__name__)
RECONNECT_FIRST_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5


class PgListener:
    def __init__(self, engine: Engine) -> None:
        self._url = libpq_url(engine) if engine.dialect.name == "postgresql" else None
        self._handlers: dict[str, Callable[[str], None]] = {}
        self._on_reconnect: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self.reconnects = 0  # how many times the connection came back (for tests and logs)

    @property
    def active(self) -> bool:
        """False on SQLite: a single process, nothing to listen to."""
        return self._url is not None

    def on(self, channel: str, handler: Callable[[str], None]) -> None:
        """Registers the handler of one channel (before `start`)."""
        self._handlers[channel] = handler

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._on_reconnect.append(callback)

    def start(self, wait_s: float = 10.0) -> None:
        """Starts listening and waits (bounded) until LISTEN is in place, so that nothing
        committed after `start` returns can be missed."""
        if self._url is None or not self._handlers or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._listen_forever, name="quanzu-pg-listener", daemon=True)
        self._thread.start()
        if not self._connected.wait(timeout=wait_s):
            log.warning("listener not connected after %.0fs; carrying on, it keeps trying", wait_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listen_forever(self) -> None:
        assert self._url is not None  # noqa: S101  (start() checked)
        pause = RECONNECT_FIRST_SECONDS
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
                ) as conn:
                    for channel in self._handlers:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._connected.set()
                    if not first:
                        self.reconnects += 1
                        log.info("listener reconnected")
                        self._catch_up()
                    first = False
                    pause = RECONNECT_FIRST_SECONDS
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._dispatch(note.channel, note.payload)
            except Exception:
                if self._stop.is_set():
                    return
                log.warning("listener lost its connection; reconnecting in %.1fs", pause, exc_info=True)
                self._stop.wait(pause)
                pause = min(pause * 2, RECONNECT_MAX_SECONDS)

    def _dispatch(self, channel: str, payload: str) -> None:
        handler = self._handlers.get(channel)
        if handler is None:
            return
        try:
            handler(payload)
        except Exception:  # one bad payload must not take the connection down with it
            log.exception("listener handler for %s failed", channel)

    def _catch_up(self) -> None:
        # A failing callback (the database is still coming back) drops the connection: the
        # loop reconnects and calls every callback again, so none is left behind.
        for callback in self._on_reconnect:
            callback()
