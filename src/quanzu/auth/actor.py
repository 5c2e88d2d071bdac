"""Who is acting. Every service call takes an Actor; scoping rules read it, nothing else does."""

from __future__ import annotations

from dataclasses import dataclass

from quanzu.codes import Role


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # "user" | "client" | "system"
    id: int | None
    name: str
    role: Role
    station_id: int | None = None  # the station a station-level user belongs to
    branch_id: int | None = None  # the branch above that station (or the branch user's own)
    bank_id: int | None = None  # the bank a bank system speaks for
    display_name: str = ""
    locale: str = "zh-Hans"

    @property
    def label(self) -> str:
        """How the actor appears on timelines and in the audit trail."""
        return f"{self.kind}:{self.id}:{self.name}" if self.id is not None else f"{self.kind}:{self.name}"


SYSTEM = Actor(kind="system", id=None, name="quanzu", role=Role.ADMIN)
