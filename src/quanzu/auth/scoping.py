"""Access scoping in one place: which stations' data an actor may read or act on."""

from __future__ import annotations

from dataclasses import dataclass

from quanzu.auth.actor import Actor
from quanzu.codes import Role
from quanzu.kit.errors import Forbidden

DISTRICT_WIDE = frozenset({Role.CENTRE, Role.ADMIN, Role.AUDITOR})
STATION_LEVEL = frozenset({Role.CHIEF, Role.DUTY_LEADER, Role.DISSUADER})
CASE_READERS = DISTRICT_WIDE | STATION_LEVEL | {Role.BRANCH}


@dataclass(frozen=True, slots=True)
class CaseScope:
    """`all_stations` or a branch/station restriction; triage cases belong to the centre only."""

    all_stations: bool
    branch_id: int | None = None
    station_id: int | None = None


def case_scope(actor: Actor) -> CaseScope:
    if actor.role not in CASE_READERS:
        raise Forbidden(f"role {actor.role} may not read cases")
    if actor.role in DISTRICT_WIDE:
        return CaseScope(all_stations=True)
    if actor.role is Role.BRANCH:
        return CaseScope(all_stations=False, branch_id=actor.branch_id or -1)
    return CaseScope(all_stations=False, station_id=actor.station_id or -1)


def require_role(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        raise Forbidden(f"role {actor.role} may not do this (needs {', '.join(roles)})")


def bank_scope(actor: Actor) -> int:
    """The one bank whose screening, events and stop-payment requests a bank system may touch."""
    if actor.role is not Role.BANK or actor.bank_id is None:
        raise Forbidden("only a registered bank's system may do this")
    return actor.bank_id


# --- review (复查), accountability and training -----------------------------------------------------

REVIEW_READERS = DISTRICT_WIDE | {Role.BRANCH, Role.CHIEF}  # a chief reads the station's, read-only
REVIEWERS = frozenset({Role.CENTRE})
TRAINING_WRITERS = frozenset({Role.CENTRE, Role.ADMIN, Role.CHIEF})


def require_review_reader(actor: Actor) -> CaseScope:
    """Who may read reviews and scorecards; which cases' reviews follow `case_scope`."""
    if actor.role not in REVIEW_READERS:
        raise Forbidden(f"role {actor.role} may not read reviews")
    return case_scope(actor)


@dataclass(frozen=True, slots=True)
class PeopleScope:
    """Whose training records and assessments an actor may read: everyone, a branch's stations,
    one station (and its teams), or only the actor."""

    all_people: bool
    branch_id: int | None = None
    station_id: int | None = None
    user_id: int | None = None


def people_scope(actor: Actor) -> PeopleScope:
    if actor.role not in CASE_READERS:
        raise Forbidden(f"role {actor.role} may not read training records")
    if actor.role in DISTRICT_WIDE:
        return PeopleScope(all_people=True)
    if actor.role is Role.BRANCH:
        return PeopleScope(all_people=False, branch_id=actor.branch_id or -1)
    if actor.role in (Role.CHIEF, Role.DUTY_LEADER):
        return PeopleScope(all_people=False, station_id=actor.station_id or -1)
    return PeopleScope(all_people=False, user_id=actor.id or -1)


# --- the daily briefing (日报) ---------------------------------------------------------------------------

BRIEFING_READERS = DISTRICT_WIDE | {Role.BRANCH, Role.CHIEF, Role.DUTY_LEADER}


def briefing_scope(actor: Actor) -> CaseScope:
    """Who may read daily briefings: the district's for the district-wide roles, a station's for
    that station's chief and duty leaders and its branch (the `case_scope` of the actor)."""
    if actor.role not in BRIEFING_READERS:
        raise Forbidden(f"role {actor.role} may not read daily briefings")
    return case_scope(actor)
