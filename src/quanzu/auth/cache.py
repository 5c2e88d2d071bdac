"""A short-lived cache of machine credentials for the screening hot path, where a database
lookup per call would cost more than the screening itself. A revoked or disabled bank token
stops working within `ttl` seconds (QUANZU_AUTH_CACHE_SECONDS)."""

from __future__ import annotations

import hashlib
import threading
import time

from quanzu.auth.actor import Actor


class CredentialCache:
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[float, Actor]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, token: str) -> Actor | None:
        found = self._entries.get(self._key(token))
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, token: str, actor: Actor) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()  # bounded: a flood of distinct tokens cannot grow it
            self._entries[self._key(token)] = (time.monotonic() + self._ttl, actor)
