"""The KPIs of DESIGN.md ("KPI definitions"), one implementation for the API, the dashboard, the
daily briefing and the simulator. What each figure means exactly: `schemas.DEFINITIONS`."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.codes import OrgKind
from quanzu.kit.db import is_postgres
from quanzu.kit.errors import FieldError, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.models.org import OrgUnit
from quanzu.org import repository as org_repo
from quanzu.reports import repository
from quanzu.reports.repository import (
    ALL_STATIONS,
    CallbackCount,
    CaseFigures,
    Cohort,
    Milestones,
    Percentiles,
    RollupQuery,
    SlaCount,
    StationTotals,
    Totals,
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
SLA_KINDS = ("sign", "first_contact", "face_to_face", "feedback")
CENT = Decimal("0.01")
ONE_DAY = timedelta(days=1)


def kpis(session: Session, rt: Runtime, actor: Actor, query: KpiQuery, *, rollups: bool = True) -> KpiReport:
    """The KPI report. On PostgreSQL, whole days with a readable daily rollup are read from it
    and the rest of the period from the raw tables (`rollups=False`: raw tables only, as the
    benchmark's anchor and the tests' reference)."""
    now = rt.clock.now()
    start, end = resolve_period(query, now)
    station_id = _station_id(session, query.station)
    cohort = repository.cohort(actor, start, end, station_id=station_id, scam_type=query.scam_type)
    days = _rolled_days(session, start, end, now) if rollups and is_postgres(session) else []
    raw = replace(cohort, spans=raw_spans(start, end, days)) if days else cohort
    rolled = Rolled.read(session, RollupQuery(actor, days, station_id, query.scam_type)) if days else Rolled()
    figures = repository.case_figures(session, raw)
    totals = _plus(figures.totals, rolled.total)
    sign, contact = (
        _durations(session, cohort) if not days else _merged_durations(session, cohort, raw, rolled)
    )
    slas = repository.sla_counts(session, raw, now) + rolled.slas
    callbacks = repository.callback_counts(session, raw, now) + rolled.callbacks
    follow_ups = _follow_ups(callbacks)
    raw_warnings = repository.warnings_by_day(session, raw)
    warnings = sum(raw_warnings.values()) + rolled.total.get("warnings", 0)
    return KpiReport(
        period=Period(start=start, end=end),
        station=query.station,
        scam_type=query.scam_type,
        warnings=warnings,
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
        first_meeting_success_rate=rate(totals.first_meeting_dissuaded, totals.first_meetings),
        sla_breach_rate=_sla_rates(slas),
        repeat_warning_rate_30d=rate(totals.repeat_warned, totals.cases),
        follow_up_completion_rate=follow_ups.rate,
        by_day=_by_day(raw, figures, raw_warnings, rolled),
        by_scam_type=_by_scam_type(figures, rolled),
        station_ranking=_station_ranking(session, figures, sign, contact, slas, callbacks, rolled),
        follow_ups=follow_ups,
    )


# --- rollups ----------------------------------------------------------------------------------------


@dataclass
class Rolled:
    """What the rolled-up days add: sums for all, per station, scam type and day; SLA counts."""

    query: RollupQuery | None = None
    total: dict[str, Any] = field(default_factory=dict)
    stations: dict[int | None, dict[str, Any]] = field(default_factory=dict)
    scam_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    days: dict[date, dict[str, Any]] = field(default_factory=dict)
    slas: list[SlaCount] = field(default_factory=list)

    @classmethod
    def read(cls, session: Session, query: RollupQuery) -> Rolled:
        out = cls(query=query, slas=repository.rollup_slas(session, query))
        for row in repository.rollup_sums(session, query):
            if row.group == "all":
                out.total = row.figures
            elif row.group == "station":
                out.stations[row.key] = row.figures
            elif row.group == "scam_type":
                out.scam_types[row.key] = row.figures
            else:
                out.days[row.key] = row.figures
        return out

    @property
    def callbacks(self) -> list[CallbackCount]:
        return [
            CallbackCount(s, int(f["callbacks_counted"]), int(f["callbacks_completed"]))
            for s, f in self.stations.items()
        ]


def _rolled_days(session: Session, start: datetime, end: datetime, now: datetime) -> list[date]:
    """The whole local days of `[start, end)` whose rollup may be read now."""
    whole = [d for d in local_days(start, end) if _midnight(d) >= start and _midnight(d + ONE_DAY) <= end]
    if not whole:
        return []
    return sorted(repository.readable_days(session, whole[0], whole[-1], now))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)


def raw_spans(start: datetime, end: datetime, rolled: list[date]) -> tuple[tuple[datetime, datetime], ...]:
    """`[start, end)` minus the rolled-up days, as UTC spans."""
    spans = []
    cursor = start
    for day in sorted(rolled):
        if _midnight(day) > cursor:
            spans.append((cursor, _midnight(day).astimezone(UTC)))
        cursor = _midnight(day + ONE_DAY).astimezone(UTC)
    if cursor < end:
        spans.append((cursor, end))
    return tuple(spans)


def _plus(totals: Totals, rolled: dict[str, Any]) -> Totals:
    if not rolled:
        return totals
    added: dict[str, Any] = {
        name: (getattr(totals, name) or 0) + (rolled[name] or 0) for name in Totals.__dataclass_fields__
    }
    return Totals(**added)


def _merged_durations(
    session: Session, cohort: Cohort, raw: Cohort, rolled: Rolled
) -> tuple[Percentiles, Percentiles]:
    """Percentiles over rolled-up days come from duration histograms (within 2.5 %), which are
    kept per station but not per scam type: a scam-type report reads its durations raw."""
    if rolled.query is None or rolled.query.scam_type is not None:
        return _durations(session, cohort)
    histograms = repository.rollup_histograms(session, rolled.query)
    for key, counts in repository.raw_histograms(session, raw).items():
        merged = histograms.setdefault(key, {})
        for bucket, n in counts.items():
            merged[bucket] = merged.get(bucket, 0) + n
    sign: Percentiles = {}
    contact: Percentiles = {}
    for (station, metric), counts in histograms.items():
        (sign if metric == "sign" else contact)[station] = histogram_stats(counts)
    return sign, contact


def bucket_value(bucket: int) -> float:
    """The geometric middle of a duration bucket (bucket b >= 1 is [1.05^(b-1), 1.05^b) s)."""
    return 0.0 if bucket <= 0 else repository.BUCKET_BASE ** (bucket - 0.5)


def histogram_stats(counts: dict[int, int]) -> tuple[float | None, float | None, int]:
    """Median and p90 with `percentile`'s interpolation, each case at its bucket's middle."""
    n = sum(counts.values())
    if n == 0:
        return None, None, 0
    cumulative = []
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        cumulative.append((seen, bucket_value(bucket)))

    def at(rank: int) -> float:
        return next(value for upto, value in cumulative if rank < upto)

    def quantile(q: float) -> float:
        pos = (n - 1) * q
        lo, hi = math.floor(pos), math.ceil(pos)
        return at(lo) + (at(hi) - at(lo)) * (pos - lo)

    return quantile(0.5), quantile(0.9), n


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
    computed = repository.duration_percentiles(session, cohort)
    if computed is not None:
        return computed
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


def _by_day(
    cohort: Cohort, figures: CaseFigures, raw_warnings: dict[date, int], rolled: Rolled
) -> list[DayPoint]:
    """Every local day of the period, zeros included, so trend lines have no gaps. A day is
    either rolled up or read raw, never both."""
    warnings = dict(raw_warnings)
    dissuaded = dict(figures.days)
    for day, f in rolled.days.items():
        warnings[day] = int(f["warnings"])
        dissuaded[day] = (int(f["dissuaded"]), f["money_protected"])
    return [
        DayPoint(
            date=day,
            warnings=warnings.get(day, 0),
            dissuaded=dissuaded.get(day, (0, None))[0],
            money_protected=money(dissuaded.get(day, (0, None))[1]),
        )
        for day in local_days(cohort.start, cohort.end)
    ]


def _by_scam_type(figures: CaseFigures, rolled: Rolled) -> list[ScamTypeRow]:
    """Most cases first."""
    counts: dict[str, tuple[int, int]] = {t: (n, d) for t, n, d in figures.scam_types}
    for scam_type, f in rolled.scam_types.items():
        n, d = counts.get(scam_type, (0, 0))
        counts[scam_type] = (n + int(f["cases"]), d + int(f["dissuaded"]))
    rows = [ScamTypeRow(scam_type=t, cases=n, dissuaded=d) for t, (n, d) in counts.items() if n > 0]
    return sorted(rows, key=lambda r: (-r.cases, r.scam_type))


def local_days(start: datetime, end: datetime) -> list[date]:
    if start >= end:
        return []
    first = start.astimezone(LOCAL_TZ).date()
    last = (end - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _station_ranking(
    session: Session,
    figures: CaseFigures,
    sign: Percentiles,
    contact: Percentiles,
    slas: list[SlaCount],
    callbacks: list[CallbackCount],
    rolled: Rolled,
) -> list[StationRank]:
    """The warning race (预警竞速赛): fastest median first contact first, no contact last."""
    rows = _station_totals(figures, rolled)
    units = org_repo.units_by_ids(session, {r.station_id for r in rows})
    breaches: dict[int | None, int] = defaultdict(int)
    for c in slas:
        breaches[c.station_id] += c.breached
    by_station: dict[int | None, list[CallbackCount]] = defaultdict(list)
    for cb in callbacks:
        by_station[cb.station_id].append(cb)
    follow_ups = {station: _follow_ups(counts).rate for station, counts in by_station.items()}
    ranking = [
        _rank(
            r, units[r.station_id], sign.get(r.station_id), contact.get(r.station_id), breaches[r.station_id]
        ).model_copy(update={"follow_up_completion_rate": follow_ups.get(r.station_id)})
        for r in rows
    ]
    return sorted(ranking, key=_race_order)


def _station_totals(figures: CaseFigures, rolled: Rolled) -> list[StationTotals]:
    totals = {r.station_id: r for r in figures.stations}
    for station_id, f in rolled.stations.items():
        if station_id is None or not f["cases"]:
            continue
        r = totals.get(station_id, StationTotals(station_id, 0, 0, None))
        totals[station_id] = StationTotals(
            station_id,
            r.cases + int(f["cases"]),
            r.dissuaded + int(f["dissuaded"]),
            Decimal(r.money_protected or 0) + Decimal(f["money_protected"] or 0),
        )
    return list(totals.values())


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
