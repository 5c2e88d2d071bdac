"""Case queries. `readable` is the one place that decides which cases an actor may see."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Select, bindparam, case, func, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from quanzu.auth.actor import Actor
from quanzu.auth.scoping import case_scope
from quanzu.codes import CaseState
from quanzu.kit.db import among, is_postgres, one_of
from quanzu.models.cases import Case, CaseAssignee, CaseEvent, CaseSla, EarlyWarning, Person, ScamContact
from quanzu.models.org import DutyShift, OrgUnit, User


def readable(actor: Actor) -> Select[Case]:
    scope = case_scope(actor)
    stmt = select(Case)
    if scope.all_stations:
        return stmt
    if scope.branch_id is not None:
        station = aliased(OrgUnit)
        return stmt.join(station, station.id == Case.station_id).where(station.parent_id == scope.branch_id)
    return stmt.where(Case.station_id == scope.station_id)


def readable_stations(stmt: Select[Any], station_column: Any, actor: Actor) -> Select[Any]:
    """`stmt` narrowed by the rule of `readable` applied to a copy of the case's station kept on
    another row (`station_column`): the rows of the cases `actor` may read."""
    scope = case_scope(actor)
    if scope.all_stations:
        return stmt
    if scope.branch_id is not None:
        stations = select(OrgUnit.id).where(OrgUnit.parent_id == scope.branch_id)
        return stmt.where(station_column.in_(stations.scalar_subquery()))
    return stmt.where(station_column == scope.station_id)


def get_readable(session: Session, actor: Actor, case_id: int, *, for_update: bool = False) -> Case | None:
    """`for_update` locks the row (PostgreSQL) so two moves on one case are serialised."""
    stmt = readable(actor).where(Case.id == case_id)
    if for_update and is_postgres(session):
        stmt = stmt.with_for_update(of=Case)
    return session.scalars(stmt).first()


def list_readable(
    session: Session,
    actor: Actor,
    *,
    states: list[str] | None = None,
    station_id: int | None = None,
    risk_levels: list[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Case]:
    stmt = readable(actor)
    if states:
        stmt = stmt.where(Case.state.in_(states))
    if station_id is not None:
        stmt = stmt.where(Case.station_id == station_id)
    if risk_levels:
        stmt = stmt.where(Case.risk_level.in_(risk_levels))
    stmt = (
        stmt.order_by(Case.urgency.desc(), Case.opened_at.desc(), Case.id.desc()).limit(limit).offset(offset)
    )
    return list(session.scalars(stmt))


def assignees(session: Session, case_id: int, *, active_only: bool = True) -> list[tuple[CaseAssignee, User]]:
    stmt = (
        select(CaseAssignee, User)
        .join(User, User.id == CaseAssignee.user_id)
        .where(CaseAssignee.case_id == case_id)
        .order_by(CaseAssignee.position, CaseAssignee.id)
    )
    if active_only:
        stmt = stmt.where(CaseAssignee.released_at.is_(None))
    return [(a, u) for a, u in session.execute(stmt).all()]


def timeline(session: Session, case_id: int) -> list[CaseEvent]:
    stmt = select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at, CaseEvent.id)
    return list(session.scalars(stmt))


def warnings_of(session: Session, case_id: int) -> list[EarlyWarning]:
    stmt = select(EarlyWarning).where(EarlyWarning.case_id == case_id).order_by(EarlyWarning.id)
    return list(session.scalars(stmt))


def contacts_of(session: Session, warning_ids: list[int]) -> list[ScamContact]:
    if not warning_ids:
        return []
    stmt = select(ScamContact).where(one_of(session, ScamContact.warning_id, warning_ids))
    return list(session.scalars(stmt.order_by(ScamContact.id)))


def earlier_cases(session: Session, person_id: int, exclude_case_id: int) -> list[Case]:
    stmt = (
        select(Case).where(Case.person_id == person_id, Case.id != exclude_case_id).order_by(Case.id.desc())
    )
    return list(session.scalars(stmt))


def station_leads(session: Session, station_id: int) -> list[User]:
    """Chief and duty leaders of a station (and its teams): who hears when nobody is rostered."""
    team = aliased(OrgUnit)
    in_station = select(team.id).where(team.parent_id == station_id)
    stmt = select(User).where(
        User.role.in_(("chief", "duty_leader")),
        User.active.is_(True),
        (User.org_unit_id == station_id) | User.org_unit_id.in_(in_station),
    )
    return list(session.scalars(stmt.order_by(User.id)))


def open_board(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    mine: int | None = None,
    station_id: int | None = None,
    risk_level: str | None = None,
    scam_type: str | None = None,
    state: str | None = None,
    tier: int | None = None,
    limit: int = 200,
) -> list[tuple[Case, datetime | None, str | None]]:
    """Open cases with their next unmet SLA deadline: overdue first, then escalated, then urgent.
    `mine`: only cases where this user is an active assignee."""
    # Per open case, through the partial index on unmet clocks (not a scan of every clock).
    next_due = (
        select(func.min(CaseSla.due_at))
        .where(CaseSla.case_id == Case.id, CaseSla.met_at.is_(None))
        .correlate(Case)
        .scalar_subquery()
    )
    overdue = case((next_due <= now, 1), else_=0)
    stmt = readable(actor).add_columns(next_due).where(Case.state != CaseState.CLOSED)
    if mine is not None:
        mine_ids = select(CaseAssignee.case_id).where(
            CaseAssignee.user_id == mine, CaseAssignee.released_at.is_(None)
        )
        stmt = stmt.where(Case.id.in_(mine_ids))
    for column, value in (
        (Case.station_id, station_id),
        (Case.risk_level, risk_level),
        (Case.scam_type, scam_type),
        (Case.state, state),
        (Case.tier, tier),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    stmt = stmt.order_by(overdue.desc(), Case.tier.desc(), Case.urgency.desc(), next_due, Case.id)
    rows = session.execute(stmt.limit(limit)).all()
    kinds = _next_sla_kinds(session, [r[0].id for r in rows])
    return [(c, due, kinds.get(c.id)) for c, due in rows]


def _next_sla_kinds(session: Session, case_ids: list[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    stmt = (
        select(CaseSla.case_id, CaseSla.kind)
        .where(one_of(session, CaseSla.case_id, case_ids), CaseSla.met_at.is_(None))
        .order_by(CaseSla.case_id, CaseSla.due_at.desc())
    )
    return {case_id: kind for case_id, kind in session.execute(stmt).all()}  # the earliest wins last


def persons_by_ids(session: Session, ids: set[int]) -> dict[int, Person]:
    if not ids:
        return {}
    return {p.id: p for p in session.scalars(select(Person).where(one_of(session, Person.id, ids)))}


def audience(
    session: Session,
    case: Case,
    *,
    on_shift: str | None = None,
    at: datetime | None = None,
    centre: bool = False,
) -> list[int]:
    """Who is told about a case: its active officers; the station's leads, and its people on
    shift at `at` (`on_shift`: "leaders" or "all"); the centre when asked or when no station
    holds the case."""
    return audiences(session, [case], on_shift=on_shift, at=at, centre=centre)[case.id]


def audiences(
    session: Session,
    cases: list[Case],
    *,
    on_shift: str | None = None,
    at: datetime | None = None,
    centre: bool = False,
) -> dict[int, list[int]]:
    """`audience` of many cases in one round trip (intake alerts several linked cases at once).
    Per case: assignees (by position), people on shift (leader first), station leads, centre."""
    stations = sorted({c.station_id for c in cases if c.station_id is not None})
    wants_centre = centre or any(c.station_id is None for c in cases)
    shifts = on_shift if stations and at is not None else None
    stmt = _audiences(is_postgres(session), shifts, has_stations=bool(stations), centre=wants_centre)
    params: dict[str, Any] = {"case_ids": [c.id for c in cases]}
    if stations:
        params["stations"] = stations
    if shifts is not None:
        params["at"] = at
    rows: list[Any] = sorted(session.execute(stmt, params).all(), key=lambda r: (r[0], r[2], r[3]))
    by_part: dict[tuple[int, int | None], list[int]] = {}
    for part, key, _position, user_id in rows:
        by_part.setdefault((part, key), []).append(user_id)
    out: dict[int, list[int]] = {}
    for c in cases:
        ids = list(by_part.get((0, c.id), []))
        if c.station_id is not None:
            ids += by_part.get((1, c.station_id), []) + by_part.get((2, c.station_id), [])
        if centre or c.station_id is None:
            ids += by_part.get((3, None), [])
        out[c.id] = list(dict.fromkeys(ids))
    return out


@functools.cache
def _audiences(
    postgres: bool, on_shift: str | None, *, has_stations: bool, centre: bool
) -> CompoundSelect[*tuple[Any, ...]]:
    """The UNION `audiences` runs, built once per shape: the worker alerts linked cases every
    round, and py-spy put `audiences` at a sixth of its time at 200/s, most of it building the
    statement. Bound: `case_ids`, `stations`, `at`. Each part yields (part, key, position, user
    id): key is a case id (part 0) or a station id."""
    parts: list[Select[*tuple[Any, ...]]] = [
        select(literal(0), CaseAssignee.case_id, CaseAssignee.position, CaseAssignee.user_id).where(
            among(CaseAssignee.case_id, "case_ids", postgres=postgres), CaseAssignee.released_at.is_(None)
        )
    ]
    if on_shift is not None:
        shift = select(literal(1), DutyShift.station_id, DutyShift.position, DutyShift.user_id).where(
            among(DutyShift.station_id, "stations", postgres=postgres),
            DutyShift.starts_at <= bindparam("at"),
            DutyShift.ends_at > bindparam("at"),
            DutyShift.user_id.in_(select(User.id).where(User.active.is_(True))),
        )
        parts.append(shift if on_shift == "all" else shift.where(DutyShift.position == "leader"))
    if has_stations:
        team = aliased(OrgUnit)
        in_station = among(User.org_unit_id, "stations", postgres=postgres)
        in_team = among(team.parent_id, "stations", postgres=postgres)
        station_of_user = case((in_station, User.org_unit_id), else_=team.parent_id)
        parts.append(
            select(literal(2), station_of_user, literal(""), User.id)
            .outerjoin(team, team.id == User.org_unit_id)
            .where(
                User.role.in_(("chief", "duty_leader")),
                User.active.is_(True),
                in_station | in_team,
            )
        )
    if centre:
        parts.append(
            select(literal(3), literal(None), literal(""), User.id).where(
                User.role == "centre", User.active.is_(True)
            )
        )
    return union_all(*parts)


def warned_between(session: Session, person_id: int, since: datetime, before: datetime) -> bool:
    """Whether the person has a warning received in `[since, before)`: one probe of
    ix_warnings_person_received (person_id, received_at)."""
    stmt = select(EarlyWarning.id).where(
        EarlyWarning.person_id == person_id,
        EarlyWarning.received_at >= since,
        EarlyWarning.received_at < before,
    )
    return session.execute(stmt.limit(1)).first() is not None
