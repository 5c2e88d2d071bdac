"""The KPIs of DESIGN.md ("KPI definitions"), one implementation for the API, the dashboard, the
daily briefing and the simulator. What each figure means exactly: `schemas.DEFINITIONS`."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.codes import OrgKind
from quanzu.kit.errors import FieldError, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case
from quanzu.models.org import OrgUnit
from quanzu.org import repository as org_repo
from quanzu.reports import repository
from quanzu.reports.repository import (
    ALL_STATIONS,
    CallbackCount,
    Cohort,
    Milestones,
    Percentiles,
    SlaCount,
    StationTotals,
)
from quanzu.reports.schemas import (
    LOCAL_TZ,
    DayPoint,
    DurationStats,
    FollowUpCompletion,
    KpiQuery,
    KpiReport,
    Period,
    ScamTypeRow,
    SlaBreach,
    StationRank,
)

DEFAULT_SPAN = timedelta(days=7)
MAX_SPAN = timedelta(days=366)  # a year of daily buckets; longer belongs in an export
REPEAT_WINDOW = timedelta(days=30)
SLA_KINDS = ("sign", "first_contact", "face_to_face", "feedback")
CENT = Decimal("0.01")


def kpis(session: Session, rt: Runtime, actor: Actor, query: KpiQuery) -> KpiReport:
    now = rt.clock.now()
    start, end = resolve_period(query, now)
    station_id = _station_id(session, query.station)
    cohort = repository.cohort(actor, start, end, station_id=station_id, scam_type=query.scam_type)
    totals = repository.totals(session, cohort)
    sign, contact = _durations(session, cohort)
    slas = repository.sla_counts(session, cohort, now)
    first_dissuaded, first_meetings = repository.first_meetings(session, cohort)
    callbacks = repository.callback_counts(session, cohort, now)
    follow_ups = _follow_ups(callbacks)
    return KpiReport(
        period=Period(start=start, end=end),
        station=query.station,
        scam_type=query.scam_type,
        warnings=repository.warnings_received(session, cohort),
        cases=totals.cases,
        open_cases=totals.open_cases,
        dissuaded=totals.dissuaded,
        money_protected=money(totals.money_protected),
        lost=totals.lost,
        money_lost=money(totals.money_lost),
        not_fraud=totals.not_fraud,
        unreachable=totals.unreachable,
        escalated=totals.escalated,
        time_to_sign_s=_stats(sign.get(ALL_STATIONS)),
        time_to_first_contact_s=_stats(contact.get(ALL_STATIONS)),
        first_meeting_success_rate=rate(first_dissuaded, first_meetings),
        sla_breach_rate=_sla_rates(slas),
        repeat_warning_rate_30d=rate(repository.repeat_warned(session, cohort, REPEAT_WINDOW), totals.cases),
        follow_up_completion_rate=follow_ups.rate,
        by_day=_by_day(session, cohort),
        by_scam_type=[
            ScamTypeRow(scam_type=t, cases=n, dissuaded=d)
            for t, n, d in repository.by_scam_type(session, cohort)
        ],
        station_ranking=_station_ranking(session, cohort, sign, contact, slas, callbacks),
        follow_ups=follow_ups,
    )


# --- the query ------------------------------------------------------------------------------------


def resolve_period(query: KpiQuery, now: datetime) -> tuple[datetime, datetime]:
    """`[start, end)` as aware datetimes. A date `from` starts at that local day's midnight; a date
    `to` includes its whole local day. Missing bounds: `to` = now, `from` = `to` − 7 days."""
    end = _bound(query.to, end_of_day=True) if query.to is not None else now
    start = _bound(query.from_, end_of_day=False) if query.from_ is not None else end - DEFAULT_SPAN
    # Compared as given: `from` = `to` as dates is one whole day, `from` after `to` is an error.
    latest_start = _bound(query.to, end_of_day=False) if query.to is not None else end
    if start > latest_start:
        raise ValidationFailed([FieldError("from", "开始时间不能晚于结束时间（to）")])
    if end - start > MAX_SPAN:
        raise ValidationFailed([FieldError("from", f"时间范围不能超过 {MAX_SPAN.days} 天")])
    return start.astimezone(UTC), end.astimezone(UTC)


def _bound(moment: date | datetime, *, end_of_day: bool) -> datetime:
    if isinstance(moment, datetime):
        return moment
    day = moment + timedelta(days=1) if end_of_day else moment
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)


def _station_id(session: Session, code: str | None) -> int | None:
    if code is None:
        return None
    unit = org_repo.unit_by_code(session, code)
    if unit is None or unit.kind != OrgKind.STATION:
        raise ValidationFailed([FieldError("station", f"未知的派出所代码：{code}")])
    return unit.id


# --- figures --------------------------------------------------------------------------------------


def money(amount: Decimal | float | None) -> Decimal:
    """Yuan with two places; SQLite hands sums back as floats, hence `str` first."""
    return Decimal(str(amount or 0)).quantize(CENT)


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's `percentile_cont`."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def duration_stats(seconds: Iterable[float]) -> DurationStats:
    ordered = sorted(seconds)
    median, p90 = percentile(ordered, 0.5), percentile(ordered, 0.9)
    return DurationStats(median=_round(median), p90=_round(p90), n=len(ordered))


def _durations(session: Session, cohort: Cohort) -> tuple[Percentiles, Percentiles]:
    """Time to sign and to first contact, per station and for all: in SQL where the database can
    (PostgreSQL), else from one row per case."""
    sign = repository.duration_percentiles(session, cohort, Case.signed_at)
    contact = repository.duration_percentiles(session, cohort, Case.first_contact_at)
    if sign is not None and contact is not None:
        return sign, contact
    marks = repository.milestones(session, cohort)
    return _percentiles(marks, _signed), _percentiles(marks, _contacted)


def _percentiles(marks: list[Milestones], milestone: Callable[[Milestones], datetime | None]) -> Percentiles:
    groups: dict[int | str | None, list[Milestones]] = defaultdict(list)
    for m in marks:
        groups[m.station_id].append(m)
    out: Percentiles = {}
    for key, members in [*groups.items(), (ALL_STATIONS, marks)]:
        stats = duration_stats(_seconds(members, milestone))
        out[key] = (stats.median, stats.p90, stats.n)
    return out


def _stats(figure: tuple[float | None, float | None, int] | None) -> DurationStats:
    if figure is None:
        return DurationStats(median=None, p90=None, n=0)
    median, p90, n = figure
    return DurationStats(median=_round(median), p90=_round(p90), n=n)


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _signed(m: Milestones) -> datetime | None:
    return m.signed_at


def _contacted(m: Milestones) -> datetime | None:
    return m.first_contact_at


def _seconds(marks: Iterable[Milestones], milestone: Callable[[Milestones], datetime | None]) -> list[float]:
    """Seconds from opening to `milestone`, for the cases that reached it."""
    return [(at - m.opened_at).total_seconds() for m in marks if (at := milestone(m)) is not None]


def _sla_rates(counts: Iterable[SlaCount]) -> dict[str, SlaBreach]:
    counted: dict[str, int] = defaultdict(int)
    breached: dict[str, int] = defaultdict(int)
    for c in counts:
        counted[c.kind] += c.counted
        breached[c.kind] += c.breached
    return {
        kind: SlaBreach(
            breached=breached[kind], counted=counted[kind], rate=rate(breached[kind], counted[kind])
        )
        for kind in SLA_KINDS
    }


def _follow_ups(counts: Iterable[CallbackCount]) -> FollowUpCompletion:
    completed = counted = 0
    for c in counts:
        completed, counted = completed + c.completed, counted + c.counted
    return FollowUpCompletion(completed=completed, counted=counted, rate=rate(completed, counted))


def _by_day(session: Session, cohort: Cohort) -> list[DayPoint]:
    """Every local day of the period, zeros included, so trend lines have no gaps."""
    warnings = repository.warnings_by_day(session, cohort)
    dissuaded = repository.dissuaded_by_day(session, cohort)
    return [
        DayPoint(
            date=day,
            warnings=warnings.get(day, 0),
            dissuaded=dissuaded.get(day, (0, None))[0],
            money_protected=money(dissuaded.get(day, (0, None))[1]),
        )
        for day in local_days(cohort.start, cohort.end)
    ]


def local_days(start: datetime, end: datetime) -> list[date]:
    if start >= end:
        return []
    first = start.astimezone(LOCAL_TZ).date()
    last = (end - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _station_ranking(
    session: Session,
    cohort: Cohort,
    sign: Percentiles,
    contact: Percentiles,
    slas: list[SlaCount],
    callbacks: list[CallbackCount],
) -> list[StationRank]:
    """The warning race (预警竞速赛): fastest median first contact first, no contact last."""
    rows = repository.station_totals(session, cohort)
    units = org_repo.units_by_ids(session, {r.station_id for r in rows})
    breaches: dict[int | None, int] = defaultdict(int)
    for c in slas:
        breaches[c.station_id] += c.breached
    follow_ups = {c.station_id: rate(c.completed, c.counted) for c in callbacks}
    ranking = [
        _rank(
            r, units[r.station_id], sign.get(r.station_id), contact.get(r.station_id), breaches[r.station_id]
        ).model_copy(update={"follow_up_completion_rate": follow_ups.get(r.station_id)})
        for r in rows
    ]
    return sorted(ranking, key=_race_order)


def _rank(
    row: StationTotals,
    unit: OrgUnit,
    sign: tuple[float | None, float | None, int] | None,
    contact: tuple[float | None, float | None, int] | None,
    breaches: int,
) -> StationRank:
    return StationRank(
        code=unit.code,
        name=unit.name,
        cases=row.cases,
        dissuaded=row.dissuaded,
        money_protected=money(row.money_protected),
        median_time_to_sign_s=_stats(sign).median,
        median_time_to_first_contact_s=_stats(contact).median,
        sla_breaches=breaches,
    )


def _race_order(rank: StationRank) -> tuple[bool, float, str]:
    contact = rank.median_time_to_first_contact_s
    return (contact is None, contact or 0.0, rank.code)
