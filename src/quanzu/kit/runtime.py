"""What services need from the running process besides the session: the clock, the PII cipher,
and the after-commit outlets (live push, waking the delivery worker)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from quanzu.kit.clock import Clock
from quanzu.kit.crypto import PiiCipher
from quanzu.org.cache import OrgCache, RosterCache
from quanzu.policy.schemas import Policy
from quanzu.policy.service import load_policy

if TYPE_CHECKING:
    from quanzu.audit.batcher import AuditBatcher
    from quanzu.auth.cache import CredentialCache
    from quanzu.banks.keeper import WatchKeeper
    from quanzu.security.ratelimit import LoginThrottle


@dataclass(frozen=True, slots=True)
class SmsGatewayConfig:
    """Where help requests' text messages go (QUANZU_SMS_GATEWAY_URL …); None: no SMS is sent."""

    url: str
    secret: str | None
    sender: str


class LivePublisher(Protocol):
    def publish(self, user_ids: Iterable[int], event: dict[str, Any]) -> None: ...


class NullPublisher:
    def publish(self, user_ids: Iterable[int], event: dict[str, Any]) -> None:
        return None


def _noop() -> None:
    return None


@dataclass(slots=True)
class Runtime:
    clock: Clock
    cipher: PiiCipher
    live: LivePublisher = field(default_factory=NullPublisher)
    wake_delivery: Callable[[], None] = _noop
    org: OrgCache = field(default_factory=OrgCache)
    policy: Policy = field(default_factory=load_policy)
    base_url: str = "http://127.0.0.1:8000"
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    # A serving process's screening index and group-committed audit (None in the CLI).
    watch: WatchKeeper | None = None
    audit_batcher: AuditBatcher | None = None
    roster: RosterCache | None = None  # a serving process's (the CLI and a lone worker read the database)
    sms: SmsGatewayConfig | None = None
    # QUANZU_DATA_DIR: where the learned scam-type model is kept (None: the phrase model only).
    data_dir: Path | None = None
    login_throttle: LoginThrottle | None = None  # attempts per login name (None in the CLI)
    credentials: CredentialCache | None = None  # machine credentials cached for screening (serving only)
