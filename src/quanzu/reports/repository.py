"""KPI queries. Every statement starts from `cases.repository.readable(actor)`, the one place that
decides what an actor may see, and aggregates in SQL that runs unchanged on SQLite and
PostgreSQL; the only dialect branch is the local-day bucket. Reports read, never write."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    Float,
    Select,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.auth.scoping import case_scope
from quanzu.cases.repository import readable
from quanzu.codes import CaseState
from quanzu.kit.db import is_postgres
from quanzu.models.cases import Case, CaseSla, EarlyWarning
from quanzu.models.followups import FollowUpCallback
from quanzu.models.org import OrgUnit
from quanzu.models.reports import KpiDay, KpiDayDuration, KpiDaySla, KpiRollupDay
from quanzu.reports.schemas import LOCAL_TZ


@dataclass(frozen=True, slots=True)
class Cohort:
    """What a report counts: `scoped` is what the actor may read narrowed by the report's
    station and scam type; `cases` further keeps the cases opened in `[start, end)`. When the
    report reads daily rollups for some whole days, `spans` are the parts of the period left to
    the raw tables (possibly none)."""

    scoped: Select[Any]
    start: datetime
    end: datetime
    spans: tuple[tuple[datetime, datetime], ...] | None = None
    every_case: bool = False  # `scoped` is the whole cases table (the centre, no narrowing)

    def within(self, column: Any) -> ColumnElement[bool]:
        """`column` falls in the part of the period read from the raw tables."""
        spans = self.spans if self.spans is not None else ((self.start, self.end),)
        if not spans:
            return false()
        return or_(*(and_(column >= a, column < b) for a, b in spans))

    @property
    def cases(self) -> Select[Any]:
        return self.scoped.where(self.within(Case.opened_at))

    @property
    def first_moment(self) -> datetime:
        """Where the part read from the raw tables begins."""
        return self.spans[0][0] if self.spans else self.start


def cohort(
    actor: Actor, start: datetime, end: datetime, *, station_id: int | None, scam_type: str | None
) -> Cohort:
    """Raises Forbidden for roles that may not read cases (feed, bank)."""
    stmt: Select[Any] = readable(actor)
    if station_id is not None:
        stmt = stmt.where(Case.station_id == station_id)
    if scam_type is not None:
        stmt = stmt.where(Case.scam_type == scam_type)
    every_case = case_scope(actor).all_stations and station_id is None and scam_type is None
    return Cohort(stmt, start, end, every_case=every_case)


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
    first_meeting_dissuaded: int  # dissuaded at the first face-to-face meeting
    first_meetings: int  # cases with a finished face-to-face meeting
    repeat_warned: int  # cases whose person was warned within 30 days before (kept on the case)


def totals(session: Session, cohort: Cohort) -> Totals:
    return Totals(*session.execute(_columns(cohort.cases, *_totals_columns())).one())


def _totals_columns() -> tuple[ColumnElement[Any], ...]:
    return (
        func.count(Case.id),
        _count_if(Case.state != CaseState.CLOSED),
        _count_if(_DISSUADED),
        _money_if(_DISSUADED, Case.amount_protected),
        _count_if(Case.outcome == "lost"),
        _money_if(Case.outcome == "lost", Case.amount_lost),
        _count_if(Case.outcome == "not_fraud"),
        _count_if(Case.outcome == "unreachable"),
        _count_if(Case.tier > 1),
        _count_if(Case.first_meeting_outcome == "dissuaded"),
        _count_if(Case.first_meeting_outcome.is_not(None)),
        _count_if(Case.repeat_warned_30d.is_(True)),
    )


def _received_in_period(cohort: Cohort) -> Select[Any]:
    """Warnings received in the period, on cases the actor may read (whenever they opened). Every
    warning has a case: when every case may be read, the cases table is not needed."""
    if cohort.every_case:
        return select(EarlyWarning.id).where(cohort.within(EarlyWarning.received_at))
    stmt = _columns(cohort.scoped, EarlyWarning.id).join(EarlyWarning, EarlyWarning.case_id == Case.id)
    return stmt.where(cohort.within(EarlyWarning.received_at))


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
    """Warnings received per local day (their sum is the period's count: one statement for both)."""
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


@dataclass(frozen=True, slots=True)
class CaseFigures:
    """The case figures of a cohort: totals, per station, per scam type (cases, dissuaded) and
    per day of opening (dissuaded, money protected)."""

    totals: Totals
    stations: list[StationTotals]
    scam_types: list[tuple[str, int, int]]
    days: dict[date, tuple[int, Decimal | None]]


def case_figures(session: Session, cohort: Cohort) -> CaseFigures:
    """On PostgreSQL one pass over the cohort's cases (grouping sets); elsewhere one statement
    per grouping."""
    if not is_postgres(session):
        return CaseFigures(
            totals(session, cohort),
            station_totals(session, cohort),
            by_scam_type(session, cohort),
            dissuaded_by_day(session, cohort),
        )
    day = _local_day(session, Case.opened_at, cohort.start)
    keys = (Case.station_id, Case.scam_type, day)
    stmt = _columns(cohort.cases, *(func.grouping(k) for k in keys), *keys, *_totals_columns()).group_by(
        func.grouping_sets(*(tuple_(k) for k in keys), tuple_())
    )
    out = CaseFigures(Totals(0, 0, 0, None, 0, None, 0, 0, 0, 0, 0, 0), [], [], {})
    for g_station, g_scam, g_day, station_id, scam_type, opened, *figures in session.execute(stmt).all():
        row = Totals(*figures)
        if not g_station:
            if station_id is not None:
                out.stations.append(StationTotals(station_id, row.cases, row.dissuaded, row.money_protected))
        elif not g_scam:
            out.scam_types.append((scam_type, row.cases, row.dissuaded))
        elif not g_day:
            out.days[opened] = (row.dissuaded, row.money_protected)
        else:
            out = replace(out, totals=row)
    return out


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


def duration_percentiles(session: Session, cohort: Cohort) -> tuple[Percentiles, Percentiles] | None:
    """Median and p90 of seconds from opening to signing and to first contact, per station and
    for all, computed by PostgreSQL (`percentile_cont`, the same interpolation as the Python
    path) so a year's report does not move a million rows into Python; both in one pass (an
    ordered-set aggregate skips the cases that have not reached its milestone). None on other
    databases."""
    if not is_postgres(session):
        return None
    columns = []
    for milestone in (Case.signed_at, Case.first_contact_at):
        seconds = func.extract("epoch", milestone - Case.opened_at)
        columns += [
            func.percentile_cont(0.5).within_group(seconds),
            func.percentile_cont(0.9).within_group(seconds),
            func.count(milestone),
        ]
    stmt = _columns(cohort.cases, func.grouping(Case.station_id), Case.station_id, *columns).group_by(
        func.grouping_sets(tuple_(Case.station_id), tuple_())
    )
    sign: Percentiles = {}
    contact: Percentiles = {}
    for overall, station_id, *figures in session.execute(stmt).all():
        key = ALL_STATIONS if overall else station_id
        for out, (median, p90, n) in ((sign, figures[0:3]), (contact, figures[3:6])):
            out[key] = (
                None if median is None else float(median),
                None if p90 is None else float(p90),
                int(n),
            )
    return sign, contact


# --- SLA clocks, stations -----------------------------------------------------------------------


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
        .where(cohort.within(cb.due_at))
        .group_by(Case.station_id)
    )
    return [CallbackCount(s, int(c), int(d)) for s, c, d in session.execute(stmt).all()]


# --- daily rollups (PostgreSQL) ------------------------------------------------------------------------
#
# One set of rows per local day (models/reports.py). `refresh_days` rebuilds days whole from the
# raw tables with the same predicates as the queries above; a report reads a day from the rollups
# only while nothing changed since (triggers bump the day's version) and no figure can have
# changed by time alone (`valid_until`). Percentiles cannot be summed: durations are kept as
# histograms (5 % wide buckets) per station.

BUCKET_BASE = 1.05


def duration_bucket(seconds: Any) -> ColumnElement[int]:
    """The bucket of a duration in seconds, as `_REFRESH_DURATIONS` computes it: for the raw part
    of a report that also reads rollups."""
    ratio = func.ln(cast(seconds, Float)) / func.ln(cast(literal(BUCKET_BASE), Float))
    return case((seconds < 1, 0), else_=1 + func.floor(ratio))


# Rows of the days being rebuilt: an index range on the timestamp, then the exact local days
# (computed as the triggers of revision 0014 compute them).
_IN_DAYS = "{col} >= :d0 AND {col} < :d1 AND (({col}) AT TIME ZONE 'Asia/Shanghai')::date = ANY(:days)"

_REFRESH_CASES = """
INSERT INTO kpi_days (day, station_id, scam_type, cases, open_cases, dissuaded, money_protected, lost,
                      money_lost, not_fraud, unreachable, escalated, first_meeting_dissuaded,
                      first_meetings, repeat_warned, warnings, callbacks_counted, callbacks_completed)
SELECT day, station_id, scam_type, sum(cases), sum(open_cases), sum(dissuaded), sum(money_protected),
       sum(lost), sum(money_lost), sum(not_fraud), sum(unreachable), sum(escalated),
       sum(first_meeting_dissuaded), sum(first_meetings), sum(repeat_warned), sum(warnings),
       sum(callbacks_counted), sum(callbacks_completed)
FROM (
  SELECT day, station_id, scam_type, count(*) AS cases,
         count(*) FILTER (WHERE state <> 'closed') AS open_cases,
         count(*) FILTER (WHERE outcome = 'dissuaded') AS dissuaded,
         coalesce(sum(amount_protected) FILTER (WHERE outcome = 'dissuaded'), 0) AS money_protected,
         count(*) FILTER (WHERE outcome = 'lost') AS lost,
         coalesce(sum(amount_lost) FILTER (WHERE outcome = 'lost'), 0) AS money_lost,
         count(*) FILTER (WHERE outcome = 'not_fraud') AS not_fraud,
         count(*) FILTER (WHERE outcome = 'unreachable') AS unreachable,
         count(*) FILTER (WHERE tier > 1) AS escalated,
         count(*) FILTER (WHERE first_meeting_outcome = 'dissuaded') AS first_meeting_dissuaded,
         count(*) FILTER (WHERE first_meeting_outcome IS NOT NULL) AS first_meetings,
         count(*) FILTER (WHERE repeat_warned_30d) AS repeat_warned,
         0 AS warnings, 0 AS callbacks_counted, 0 AS callbacks_completed
  FROM (SELECT c.*, ((c.opened_at) AT TIME ZONE 'Asia/Shanghai')::date AS day
        FROM cases c WHERE {cases_in_days}) c
  GROUP BY day, station_id, scam_type
  UNION ALL
  SELECT ((w.received_at) AT TIME ZONE 'Asia/Shanghai')::date, c.station_id, c.scam_type,
         0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count(*), 0, 0
  FROM warnings w JOIN cases c ON c.id = w.case_id
  WHERE {warnings_in_days}
  GROUP BY 1, c.station_id, c.scam_type
  UNION ALL
  SELECT ((f.due_at) AT TIME ZONE 'Asia/Shanghai')::date, c.station_id, c.scam_type,
         0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
         count(*) FILTER (WHERE f.done_at IS NOT NULL OR f.overdue_at <= :now),
         count(*) FILTER (WHERE f.done_at IS NOT NULL AND f.done_at <= f.overdue_at)
  FROM follow_up_callbacks f JOIN cases c ON c.id = f.case_id
  WHERE {callbacks_in_days}
  GROUP BY 1, c.station_id, c.scam_type
) parts
GROUP BY day, station_id, scam_type
"""

_REFRESH_SLAS = """
INSERT INTO kpi_day_slas (day, station_id, scam_type, kind, counted, breached)
SELECT day, station_id, scam_type, kind, count(*) FILTER (WHERE decided),
       count(*) FILTER (WHERE decided AND (met_at IS NULL OR met_at > due_at))
FROM (SELECT ((c.opened_at) AT TIME ZONE 'Asia/Shanghai')::date AS day, c.station_id, c.scam_type, s.kind,
             s.met_at, s.due_at,
             (s.met_at IS NOT NULL OR s.breached_at IS NOT NULL
              OR (s.due_at <= :now AND (c.closed_at IS NULL OR c.closed_at >= s.due_at))) AS decided
      FROM case_slas s JOIN cases c ON c.id = s.case_id
      WHERE {cases_in_days}) s
GROUP BY day, station_id, scam_type, kind
"""

_REFRESH_DURATIONS = """
INSERT INTO kpi_day_durations (day, station_id, metric, bucket, n)
SELECT day, station_id, metric, bucket, count(*)
FROM (SELECT ((c.opened_at) AT TIME ZONE 'Asia/Shanghai')::date AS day, c.station_id, m.metric,
             CASE WHEN m.seconds < 1 THEN 0 ELSE 1 + floor(ln(m.seconds::float8) / ln(1.05::float8)) END
               AS bucket
      FROM cases c
      CROSS JOIN LATERAL (
        VALUES ('sign', c.signed_at, extract(epoch FROM c.signed_at - c.opened_at)),
               ('contact', c.first_contact_at, extract(epoch FROM c.first_contact_at - c.opened_at))
      ) m(metric, at, seconds)
      WHERE {cases_in_days} AND m.at IS NOT NULL) d
GROUP BY day, station_id, metric, bucket
"""

# Per day, the first moment one of its figures changes by time alone: an undecided SLA clock of
# a case opened that day falls due, or a callback due that day passes its deadline unrecorded.
_VALID_UNTIL = """
SELECT day, min(at) FROM (
  SELECT ((c.opened_at) AT TIME ZONE 'Asia/Shanghai')::date AS day, s.due_at AS at
  FROM case_slas s JOIN cases c ON c.id = s.case_id
  WHERE {cases_in_days} AND s.met_at IS NULL AND s.breached_at IS NULL AND s.due_at > :now
  UNION ALL
  SELECT ((f.due_at) AT TIME ZONE 'Asia/Shanghai')::date, f.overdue_at
  FROM follow_up_callbacks f
  WHERE {callbacks_in_days} AND f.done_at IS NULL AND f.overdue_at > :now
) t GROUP BY day
"""

_WHERE = {
    "cases_in_days": _IN_DAYS.format(col="c.opened_at"),
    "warnings_in_days": _IN_DAYS.format(col="w.received_at"),
    "callbacks_in_days": _IN_DAYS.format(col="f.due_at"),
}


def ensure_rollup_rows(session: Session, days: list[date]) -> None:
    """A row per day, so that from now on the triggers bump its version (committed before the
    days are built: see `reports.tasks`)."""
    session.execute(
        text(
            "INSERT INTO kpi_rollup_days (day, version) SELECT d, 0 FROM unnest(CAST(:days AS date[])) d "
            "ON CONFLICT (day) DO NOTHING"
        ),
        {"days": days},
    )


def refresh_days(session: Session, days: list[date], now: datetime) -> None:
    """Rebuild these days' rollups from the raw tables as they stand at `now`, in one pass per
    table. Locks the days' rows first: a change still being written to a day finishes before,
    one written after waits and then bumps the version (that day is then not read until
    rebuilt)."""
    if not days:
        return
    versions: dict[date, int] = dict(
        session.execute(
            text("SELECT day, version FROM kpi_rollup_days WHERE day = ANY(:days) ORDER BY day FOR UPDATE"),
            {"days": days},
        ).all()
    )
    d0 = datetime.combine(min(days), time(0), tzinfo=LOCAL_TZ)
    d1 = datetime.combine(max(days) + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)
    params = {"days": days, "d0": d0, "d1": d1, "now": now}
    for table in ("kpi_days", "kpi_day_slas", "kpi_day_durations"):
        session.execute(text(f"DELETE FROM {table} WHERE day = ANY(:days)"), {"days": days})  # noqa: S608
    for sql in (_REFRESH_CASES, _REFRESH_SLAS, _REFRESH_DURATIONS):
        session.execute(text(sql.format(**_WHERE)), params)
    valid_until: dict[date, datetime] = dict(
        session.execute(text(_VALID_UNTIL.format(**_WHERE)), params).all()
    )
    session.execute(
        text(
            "UPDATE kpi_rollup_days SET computed_version = :version, computed_at = :now, "
            "valid_until = :valid_until WHERE day = :day"
        ),
        [{"version": versions[d], "now": now, "valid_until": valid_until.get(d), "day": d} for d in days],
    )


def stale_days(session: Session, first: date, last: date, now: datetime, limit: int) -> list[date]:
    """Days of `[first, last]` without a readable rollup, newest first."""
    rows = session.execute(
        text(
            "SELECT d::date FROM generate_series(CAST(:first AS date), CAST(:last AS date), "
            "interval '1 day') d LEFT JOIN kpi_rollup_days r ON r.day = d::date "
            "WHERE r.day IS NULL OR r.computed_version IS DISTINCT FROM r.version "
            "OR r.computed_at > :now OR r.valid_until <= :now ORDER BY d DESC LIMIT :limit"
        ),
        {"first": first, "last": last, "now": now, "limit": limit},
    ).all()
    return [r[0] for r in rows]


def readable_days(session: Session, first: date, last: date, now: datetime) -> list[date]:
    """Days of `[first, last]` whose rollup may be read at `now`."""
    r = KpiRollupDay
    stmt = select(r.day).where(
        r.day >= first,
        r.day <= last,
        r.computed_version == r.version,
        r.computed_at <= now,
        or_(r.valid_until.is_(None), r.valid_until > now),
    )
    return list(session.scalars(stmt).all())


def _rollup_scope(stmt: Select[Any], table: Any, actor: Actor, station_id: int | None) -> Select[Any]:
    """The rollup rows `actor` may read: the same rule as `cases.repository.readable`."""
    scope = case_scope(actor)
    if not scope.all_stations:
        if scope.branch_id is not None:
            branch = select(OrgUnit.id).where(OrgUnit.parent_id == scope.branch_id)
            stmt = stmt.where(table.station_id.in_(branch.scalar_subquery()))
        else:
            stmt = stmt.where(table.station_id == scope.station_id)
    if station_id is not None:
        stmt = stmt.where(table.station_id == station_id)
    return stmt


def day_runs(days: list[date]) -> list[tuple[date, date]]:
    """Runs of consecutive days as (first, last): index ranges instead of a list of a year's
    days (the readable days of a period are consecutive but for the few changed lately)."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


@dataclass(frozen=True, slots=True)
class RollupQuery:
    actor: Actor
    days: list[date]
    station_id: int | None
    scam_type: str | None

    def narrow(self, stmt: Any, table: Any) -> Select[Any]:
        runs = day_runs(self.days)
        in_days = or_(*(table.day.between(a, b) for a, b in runs)) if runs else false()
        narrowed = _rollup_scope(stmt, table, self.actor, self.station_id).where(in_days)
        if self.scam_type is not None and hasattr(table, "scam_type"):
            narrowed = narrowed.where(table.scam_type == self.scam_type)
        return narrowed


ROLLUP_FIGURES = (
    "cases",
    "open_cases",
    "dissuaded",
    "money_protected",
    "lost",
    "money_lost",
    "not_fraud",
    "unreachable",
    "escalated",
    "first_meeting_dissuaded",
    "first_meetings",
    "repeat_warned",
    "warnings",
    "callbacks_counted",
    "callbacks_completed",
)


@dataclass(frozen=True, slots=True)
class RollupRow:
    """Sums over the rolled-up days: `group` is "all", "station", "scam_type" or "day"."""

    group: str
    key: Any
    figures: dict[str, Any]


def rollup_sums(session: Session, q: RollupQuery) -> list[RollupRow]:
    """The additive figures, for all and per station, scam type and day, in one pass."""
    t = KpiDay
    sums = [func.sum(getattr(t, name)) for name in ROLLUP_FIGURES]
    stmt = q.narrow(
        select(
            func.grouping(t.station_id),
            func.grouping(t.scam_type),
            func.grouping(t.day),
            t.station_id,
            t.scam_type,
            t.day,
            *sums,
        ),
        t,
    ).group_by(func.grouping_sets(tuple_(t.station_id), tuple_(t.scam_type), tuple_(t.day), tuple_()))
    out = []
    for g_station, g_scam, g_day, station_id, scam_type, day, *values in session.execute(stmt).all():
        figures = {name: value or 0 for name, value in zip(ROLLUP_FIGURES, values, strict=True)}
        if not g_station:
            out.append(RollupRow("station", station_id, figures))
        elif not g_scam:
            out.append(RollupRow("scam_type", scam_type, figures))
        elif not g_day:
            out.append(RollupRow("day", day, figures))
        else:
            out.append(RollupRow("all", None, figures))
    return out


def rollup_slas(session: Session, q: RollupQuery) -> list[SlaCount]:
    t = KpiDaySla
    stmt = q.narrow(select(t.station_id, t.kind, func.sum(t.counted), func.sum(t.breached)), t).group_by(
        t.station_id, t.kind
    )
    return [SlaCount(s, k, int(c), int(b)) for s, k, c, b in session.execute(stmt).all()]


Histogram = dict[int, int]  # bucket -> cases
Histograms = dict[tuple[int | str | None, str], Histogram]  # (station or ALL_STATIONS, metric)


def rollup_histograms(session: Session, q: RollupQuery) -> Histograms:
    """Per station and for all (added up here: a few thousand rows, where a second grouping
    set would aggregate the year's rows twice). Not kept per scam type: the caller reads raw
    durations then."""
    t = KpiDayDuration
    stmt = q.narrow(select(t.station_id, t.metric, t.bucket, func.sum(t.n)), t).group_by(
        t.station_id, t.metric, t.bucket
    )
    out: Histograms = {}
    for station_id, metric, bucket, n in session.execute(stmt).all():
        for key in ((station_id, metric), (ALL_STATIONS, metric)):
            counts = out.setdefault(key, {})
            counts[int(bucket)] = counts.get(int(bucket), 0) + int(n)
    return out


def raw_histograms(session: Session, cohort: Cohort) -> Histograms:
    """The raw part of the period bucketed like the rollups, so the two can be added: both
    metrics in one pass (grouping sets; a case that has not reached a milestone has no bucket)."""
    buckets = {
        metric: duration_bucket(func.extract("epoch", milestone - Case.opened_at))
        for metric, milestone in (("sign", Case.signed_at), ("contact", Case.first_contact_at))
    }
    sign, contact = buckets["sign"], buckets["contact"]
    stmt = _columns(
        cohort.cases,
        func.grouping(Case.station_id),
        func.grouping(sign),
        Case.station_id,
        sign,
        contact,
        func.count(),
    ).group_by(
        func.grouping_sets(
            tuple_(Case.station_id, sign), tuple_(sign), tuple_(Case.station_id, contact), tuple_(contact)
        )
    )
    out: Histograms = {}
    for overall, not_sign, station_id, sign_bucket, contact_bucket, n in session.execute(stmt).all():
        metric, bucket = ("contact", contact_bucket) if not_sign else ("sign", sign_bucket)
        if bucket is not None:
            key = (ALL_STATIONS if overall else station_id, metric)
            out.setdefault(key, {})[int(bucket)] = int(n)
    return out
