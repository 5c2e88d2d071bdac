"""A per-process cache of machine credentials for the screening hot path, where a database
lookup per call would cost more than the screening itself.

A revocation made through Quanzu (`quanzu client revoke`, logging out) empties every process's
cache when it commits: this process right after the commit, the others when PostgreSQL's NOTIFY
reaches their listener (`kit/listener.py`; a listener that lost its connection empties the cache
once it is back, as notifications sent meanwhile are gone). A change made behind Quanzu's back —
a token row edited in SQL, a token reaching its expiry — takes effect within `ttl` seconds
(QUANZU_AUTH_CACHE_SECONDS) on the injected clock."""

from __future__ import annotations

import hashlib
import threading

from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.kit.clock import Clock
from quanzu.kit.db import after_commit, notify_at_commit

CHANNEL = "quanzu_credentials"


class CredentialCache:
    def __init__(self, ttl: float, clock: Clock, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, tuple[float, Actor]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str) -> Actor | None:
        found = self._entries.get(self._key(token))
        if found is None or found[0] <= self._clock.now().timestamp():
            return None
        return found[1]

    def put(self, token: str, actor: Actor) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()  # bounded: a flood of distinct tokens cannot grow it
            self._entries[self._key(token)] = (self._clock.now().timestamp() + self._ttl, actor)

    def forget_all(self) -> None:
        """Revocations are rare: every entry goes, the next call of each client looks it up."""
        with self._lock:
            self._entries = {}

    def on_notification(self, _payload: str) -> None:
        self.forget_all()


def announce_credentials_change(session: Session, cache: CredentialCache | None) -> None:
    """Called in the transaction that revokes or disables a credential: every process forgets
    its cached credentials once it commits (a rollback announces nothing)."""
    notify_at_commit(session, CHANNEL, "")
    if cache is not None:
        after_commit(session, cache.forget_all)
