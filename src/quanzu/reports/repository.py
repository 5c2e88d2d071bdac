"""KPI queries. Every statement starts from `cases.repository.readable(actor)`, the one place that
decides what an actor may see, and aggregates in SQL that runs unchanged on SQLite and
PostgreSQL; the only dialect branch is the local-day bucket. Reports read, never write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
    tuple_,
)
from sqlalchemy.orm import Session, aliased

from quanzu.auth.actor import Actor
from quanzu.cases.repository import readable
from quanzu.codes import CaseState
from quanzu.kit.db import is_postgres
from quanzu.models.cases import Case, CaseSla, EarlyWarning
from quanzu.models.followups import FollowUpCallback
from quanzu.reports.schemas import LOCAL_TZ


@dataclass(frozen=True, slots=True)
class Cohort:
    """What a report counts: `scoped` is what the actor may read narrowed by the report's
    station and scam type; `cases` further keeps the cases opened in `[start, end)`."""

    scoped: Select[Any]
    start: datetime
    end: datetime

    @property
    def cases(self) -> Select[Any]:
        return self.scoped.where(Case.opened_at >= self.start, Case.opened_at < self.end)


def cohort(
    actor: Actor, start: datetime, end: datetime, *, station_id: int | None, scam_type: str | None
) -> Cohort:
    """Raises Forbidden for roles that may not read cases (feed, bank)."""
    stmt: Select[Any] = readable(actor)
    if station_id is not None:
        stmt = stmt.where(Case.station_id == station_id)
    if scam_type is not None:
        stmt = stmt.where(Case.scam_type == scam_type)
    return Cohort(stmt, start, end)


def _columns(stmt: Select[Any], *cols: Any) -> Select[Any]:
    """Same FROM (cases and the scope's joins) and WHERE, other columns; further joins start
    from `cases`."""
    return stmt.with_only_columns(*cols, maintain_column_froms=True)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _money_if(condition: ColumnElement[bool], amount: Any) -> Any:
    return func.sum(case((condition, amount)))


_DISSUADED = Case.outcome == "dissuaded"


# --- totals ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Totals:
    cases: int
    open_cases: int
    dissuaded: int
    money_protected: Decimal | None
    lost: int
    money_lost: Decimal | None
    not_fraud: int
    unreachable: int
    escalated: int


def totals(session: Session, cohort: Cohort) -> Totals:
    stmt = _columns(
        cohort.cases,
        func.count(Case.id),
        _count_if(Case.state != CaseState.CLOSED),
        _count_if(_DISSUADED),
        _money_if(_DISSUADED, Case.amount_protected),
        _count_if(Case.outcome == "lost"),
        _money_if(Case.outcome == "lost", Case.amount_lost),
        _count_if(Case.outcome == "not_fraud"),
        _count_if(Case.outcome == "unreachable"),
        _count_if(Case.tier > 1),
    )
    return Totals(*session.execute(stmt).one())


def _received_in_period(cohort: Cohort) -> Select[Any]:
    """Warnings received in the period, on cases the actor may read (whenever they opened)."""
    stmt = _columns(cohort.scoped, EarlyWarning.id).join(EarlyWarning, EarlyWarning.case_id == Case.id)
    return stmt.where(EarlyWarning.received_at >= cohort.start, EarlyWarning.received_at < cohort.end)


def warnings_received(session: Session, cohort: Cohort) -> int:
    stmt = _received_in_period(cohort).with_only_columns(func.count(EarlyWarning.id))
    return int(session.execute(stmt).scalar_one())


# --- trend buckets --------------------------------------------------------------------------------


def _local_day(session: Session, column: Any, at: datetime) -> ColumnElement[date]:
    """The Asia/Shanghai calendar day of a UTC timestamp. The zone (PostgreSQL) and offset
    (SQLite, which has no zone rules: the offset in force at `at`) are rendered inline so that
    the same expression in SELECT and GROUP BY is textually equal. SQLite's fixed offset is
    exact for Shanghai, which has had no daylight saving time since 1991."""
    if is_postgres(session):
        zone: BindParameter[str] = bindparam("local_zone", LOCAL_TZ.key, literal_execute=True)
        return cast(func.timezone(zone, column), Date)
    offset = at.astimezone(LOCAL_TZ).utcoffset() or timedelta(0)
    seconds = int(offset.total_seconds())
    modifier: BindParameter[str] = bindparam("local_offset", f"{seconds:+d} seconds", literal_execute=True)
    return func.date(column, modifier, type_=Date)


def warnings_by_day(session: Session, cohort: Cohort) -> dict[date, int]:
    day = _local_day(session, EarlyWarning.received_at, cohort.start)
    stmt = _received_in_period(cohort).with_only_columns(day, func.count(EarlyWarning.id)).group_by(day)
    return {d: n for d, n in session.execute(stmt).all()}


def dissuaded_by_day(session: Session, cohort: Cohort) -> dict[date, tuple[int, Decimal | None]]:
    """Dissuaded cases and money protected, by the local day the case opened."""
    day = _local_day(session, Case.opened_at, cohort.start)
    stmt = (
        _columns(cohort.cases, day, func.count(Case.id), func.sum(Case.amount_protected))
        .where(_DISSUADED)
        .group_by(day)
    )
    return {d: (n, money) for d, n, money in session.execute(stmt).all()}


def by_scam_type(session: Session, cohort: Cohort) -> list[tuple[str, int, int]]:
    stmt = (
        _columns(cohort.cases, Case.scam_type, func.count(Case.id), _count_if(_DISSUADED))
        .group_by(Case.scam_type)
        .order_by(func.count(Case.id).desc(), Case.scam_type)
    )
    return [(t, n, d) for t, n, d in session.execute(stmt).all()]


# --- per-case milestones (durations are computed by the service: interval arithmetic is not
#     portable between the two databases). The dissuasion service keeps them on the case as steps
#     are recorded (`signed_at`, `first_contact_at` — every way of reaching the target goes through
#     `record_contact` — and `first_meeting_outcome`), so a report reads one row per case.


@dataclass(frozen=True, slots=True)
class Milestones:
    case_id: int
    station_id: int | None
    opened_at: datetime
    signed_at: datetime | None
    first_contact_at: datetime | None


def milestones(session: Session, cohort: Cohort) -> list[Milestones]:
    """One row per case of the cohort, only the columns the durations need."""
    stmt = _columns(
        cohort.cases, Case.id, Case.station_id, Case.opened_at, Case.signed_at, Case.first_contact_at
    )
    return [Milestones(*row) for row in session.execute(stmt).all()]


ALL_STATIONS = "all"  # the key of the district-wide figure next to the per-station ones
Percentiles = dict[int | str | None, tuple[float | None, float | None, int]]  # (median, p90, n)


def duration_percentiles(session: Session, cohort: Cohort, milestone: Any) -> Percentiles | None:
    """Median and p90 of seconds from opening to `milestone`, per station and for all, computed by
    PostgreSQL (`percentile_cont`, the same interpolation as the Python path) so a year's report
    does not move a million rows into Python. None on other databases."""
    if not is_postgres(session):
        return None
    seconds = func.extract("epoch", milestone - Case.opened_at)
    stmt = (
        _columns(
            cohort.cases,
            func.grouping(Case.station_id),
            Case.station_id,
            func.percentile_cont(0.5).within_group(seconds),
            func.percentile_cont(0.9).within_group(seconds),
            func.count(),
        )
        .where(milestone.is_not(None))
        .group_by(func.grouping_sets(tuple_(Case.station_id), tuple_()))
    )
    out: Percentiles = {}
    for overall, station_id, median, p90, n in session.execute(stmt).all():
        key = ALL_STATIONS if overall else station_id
        out[key] = (None if median is None else float(median), None if p90 is None else float(p90), int(n))
    return out


def first_meetings(session: Session, cohort: Cohort) -> tuple[int, int]:
    """(cases dissuaded at their first face-to-face, cases with a finished face-to-face)."""
    stmt = _columns(
        cohort.cases,
        _count_if(Case.first_meeting_outcome == "dissuaded"),
        _count_if(Case.first_meeting_outcome.is_not(None)),
    )
    dissuaded, met = session.execute(stmt).one()
    return int(dissuaded or 0), int(met or 0)


# --- SLA clocks, stations, repeat warnings -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaCount:
    station_id: int | None
    kind: str
    counted: int
    breached: int


def sla_counts(session: Session, cohort: Cohort, now: datetime) -> list[SlaCount]:
    """Per station and clock kind: decided clocks and breached ones (see DEFINITIONS)."""
    decided = or_(
        CaseSla.met_at.is_not(None),
        CaseSla.breached_at.is_not(None),
        and_(CaseSla.due_at <= now, or_(Case.closed_at.is_(None), Case.closed_at >= CaseSla.due_at)),
    )
    late = or_(CaseSla.met_at.is_(None), CaseSla.met_at > CaseSla.due_at)
    stmt = (
        _columns(
            cohort.cases, Case.station_id, CaseSla.kind, _count_if(decided), _count_if(and_(decided, late))
        )
        .join(CaseSla, CaseSla.case_id == Case.id)
        .group_by(Case.station_id, CaseSla.kind)
    )
    return [SlaCount(s, k, c, b) for s, k, c, b in session.execute(stmt).all()]


@dataclass(frozen=True, slots=True)
class StationTotals:
    station_id: int
    cases: int
    dissuaded: int
    money_protected: Decimal | None


def station_totals(session: Session, cohort: Cohort) -> list[StationTotals]:
    stmt = (
        _columns(
            cohort.cases,
            Case.station_id,
            func.count(Case.id),
            _count_if(_DISSUADED),
            _money_if(_DISSUADED, Case.amount_protected),
        )
        .where(Case.station_id.is_not(None))
        .group_by(Case.station_id)
    )
    return [StationTotals(*row) for row in session.execute(stmt).all()]


def repeat_warned(session: Session, cohort: Cohort, window: timedelta) -> int:
    """Cases of the cohort whose person had another warning received within `window` before the
    case opened. SQL finds each case's latest earlier warning (bounded below by the period's start
    minus the window); the per-case window check is done here, as interval arithmetic is not
    portable."""
    earlier = aliased(EarlyWarning)
    stmt = (
        _columns(cohort.cases, Case.opened_at, func.max(earlier.received_at))
        .join(
            earlier,
            and_(
                earlier.person_id == Case.person_id,
                earlier.case_id != Case.id,
                earlier.received_at < Case.opened_at,
                earlier.received_at >= cohort.start - window,
            ),
        )
        .group_by(Case.id, Case.opened_at)
    )
    return sum(1 for opened_at, latest in session.execute(stmt).all() if opened_at - latest <= window)


# --- follow-up callbacks (回访) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackCount:
    station_id: int | None
    counted: int
    completed: int


def callback_counts(session: Session, cohort: Cohort, now: datetime) -> list[CallbackCount]:
    """Per station of the case: callbacks due in `[start, end)` on cases the actor may read
    (whenever the case opened) that are decided — a result recorded, or the overdue deadline
    passed — and those of them recorded on or before that deadline (see DEFINITIONS)."""
    cb = FollowUpCallback
    decided = or_(cb.done_at.is_not(None), cb.overdue_at <= now)
    in_time = and_(cb.done_at.is_not(None), cb.done_at <= cb.overdue_at)
    stmt = (
        _columns(cohort.scoped, Case.station_id, _count_if(decided), _count_if(in_time))
        .join(cb, cb.case_id == Case.id)
        .where(cb.due_at >= cohort.start, cb.due_at < cohort.end)
        .group_by(Case.station_id)
    )
    return [CallbackCount(s, int(c), int(d)) for s, c, d in session.execute(stmt).all()]
