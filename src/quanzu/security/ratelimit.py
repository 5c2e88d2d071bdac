"""Token buckets per credential and per login name, on the injected clock.

Each serving process keeps its own buckets in memory and enforces `rate / processes` (see
`Rate.per_process`): with the kernel spreading connections over N processes, a client sees about
the configured rate overall, and the hot path (bank screening, hundreds of calls a second) pays a
dictionary look-up instead of a database round trip. Why not a shared store is in docs/security.md.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass

from quanzu.kit.clock import Clock
from quanzu.kit.errors import TooManyAttempts


@dataclass(frozen=True, slots=True)
class Rate:
    """A sustained rate with a burst allowance; `per_second <= 0` means unlimited."""

    per_second: float
    burst: int

    @property
    def unlimited(self) -> bool:
        return self.per_second <= 0

    def per_process(self, processes: int) -> Rate:
        """This process's share when `processes` serve the same clients."""
        if processes <= 1 or self.unlimited:
            return self
        return Rate(self.per_second / processes, max(1, math.ceil(self.burst / processes)))


class RateLimited(TooManyAttempts):
    """429 with the seconds after which one more call will be accepted (the `Retry-After` header)."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class RateLimiter:
    """Keyed token buckets. Bounded: past `max_keys` the least recently used bucket is dropped
    (a flood of distinct keys costs its sender fresh buckets, never anyone else's state)."""

    def __init__(self, clock: Clock, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        # key → (tokens, at), least recently used first (a dict keeps insertion order)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: Rate) -> float:
        """Spends one token from `key`'s bucket: 0.0 when allowed, else the seconds to wait."""
        if rate.unlimited:
            return 0.0
        now = self._clock.now().timestamp()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(rate.burst), now))
            # A clock that steps back refills nothing rather than taking tokens away.
            tokens = min(float(rate.burst), tokens + max(0.0, now - at) * rate.per_second)
            if tokens >= 1.0:
                self._remember(key, tokens - 1.0, now)
                return 0.0
            self._remember(key, tokens, now)
            return (1.0 - tokens) / rate.per_second

    def _remember(self, key: str, tokens: float, at: float) -> None:
        self._buckets[key] = (tokens, at)
        while len(self._buckets) > self._max_keys:
            del self._buckets[next(iter(self._buckets))]

    def __len__(self) -> int:
        return len(self._buckets)


def credential_key(token: str) -> str:
    """Buckets are keyed by a digest: the process never keeps bearer secrets it does not need."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def login_key(username: str) -> str:
    return "login:" + username.strip().casefold()


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """Attempts per login name, before any password is checked. The lockout (auth.service.login)
    stops guessing one account's password; this also bounds the argon2 work an attacker can make
    the server do for one name, known or not (unknown names have no lockout to trip)."""

    limiter: RateLimiter
    rate: Rate

    def check(self, username: str) -> None:
        wait = self.limiter.take(login_key(username), self.rate)
        if wait:
            raise RateLimited("该账号登录尝试过于频繁，请稍后再试", wait)
