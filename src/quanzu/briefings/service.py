"""The daily briefing (日报): computed for a local day and a scope (the district or one station),
stored per (scope, day) when generated, rendered as HTML, PDF and Excel, generated every day at the
policy's time by a durable timer that schedules the next day's, and audited on generation and on
every download.

`compute` is the one function that builds the figures (SQL aggregates and capped lists, no case
loaded whole); the KPI part is `reports.service.kpis`, the one KPI implementation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import SYSTEM, Actor
from quanzu.auth.scoping import briefing_scope
from quanzu.briefings import render, repository
from quanzu.briefings.repository import PerStation, StationId, Window
from quanzu.briefings.schemas import (
    FORMATS,
    LIST_LIMIT,
    Briefing,
    BriefingEntry,
    EscalationRow,
    GuardRow,
    GuardSummary,
    HandoverNote,
    NoticeRow,
    OverdueCallback,
    OverdueClock,
    ReviewSummary,
    StationLine,
    StationRef,
)
from quanzu.codes import OrgKind, Role
from quanzu.dispatch.service import Announcement, announce
from quanzu.escalation import repository as escalation_repo
from quanzu.kit.errors import FieldError, Forbidden, NotFound, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.models.briefings import Briefing as StoredBriefing
from quanzu.models.org import OrgUnit
from quanzu.models.timers import Timer
from quanzu.org import repository as org_repo
from quanzu.reports import service as reports
from quanzu.reports.schemas import LOCAL_TZ, KpiQuery
from quanzu.timers.service import schedule

DISTRICT = "district"
TIMER_KIND = "briefing"
TIMER_TOKEN = "daily"  # noqa: S105 (not a secret) — nothing makes a briefing timer stale: each one fires and plans the next


# --- scope ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    key: str  # DISTRICT or the station code
    station: OrgUnit | None


def resolve_scope(session: Session, actor: Actor, station: str | None) -> Scope:
    """The district for the district-wide roles when no station is named; a station's chief or
    duty leader gets their own station; a station the actor may not read is not found (404)."""
    scope = briefing_scope(actor)
    if station is None:
        if scope.all_stations:
            return Scope(DISTRICT, None)
        if scope.station_id is not None and scope.station_id > 0:
            unit = session.get(OrgUnit, scope.station_id)
            if unit is not None and unit.kind == OrgKind.STATION:
                return Scope(unit.code, unit)
        raise ValidationFailed([FieldError("station", "请选择派出所")])
    unit = org_repo.unit_by_code(session, station)
    if unit is None or unit.kind != OrgKind.STATION:
        raise NotFound(f"no station {station}")
    visible = (
        scope.all_stations
        or (scope.branch_id is not None and unit.parent_id == scope.branch_id)
        or scope.station_id == unit.id
    )
    if not visible:
        raise NotFound(f"no station {station}")
    return Scope(unit.code, unit)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The local (Asia/Shanghai) day as `[start, end)` in UTC."""
    start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_today(rt: Runtime) -> date:
    return rt.clock.now().astimezone(LOCAL_TZ).date()


def _check_day(rt: Runtime, day: date) -> None:
    if day > local_today(rt):
        raise ValidationFailed([FieldError("day", "日期不能晚于今天")])


# --- the figures --------------------------------------------------------------------------------------


def compute(session: Session, rt: Runtime, actor: Actor, station: str | None, day: date) -> Briefing:
    """The briefing's figures for one local day and scope, without rendering or storing."""
    _check_day(rt, day)
    scope = resolve_scope(session, actor, station)
    return _compute(session, rt, actor, scope, day)


def _compute(session: Session, rt: Runtime, actor: Actor, scope: Scope, day: date) -> Briefing:
    now = rt.clock.now()
    start, end = day_bounds(day)
    station_id = scope.station.id if scope.station else None
    w = repository.window(actor, station_id, start, end, min(now, end))
    kpis = reports.kpis(
        session, rt, actor, KpiQuery(from_=day, to=day, station=scope.station.code if scope.station else None)
    )
    units = _stations(session, scope)
    code = _coder(session, units)
    clocks = repository.overdue_clocks_by_station(session, w)
    callbacks = repository.overdue_callbacks_by_station(session, w)
    escalations = repository.events_by_station(session, w, "escalated")
    handovers = repository.events_by_station(session, w, "handover")
    findings = repository.findings_by_station(session, w)
    first_reach = repository.first_reach_by_station(session, w)
    return Briefing(
        day=day,
        scope=scope.key,
        station=StationRef(code=scope.station.code, name=scope.station.name) if scope.station else None,
        start=start,
        end=end,
        computed_at=now,
        kpis=kpis,
        overdue_clocks=_total(clocks),
        overdue_clock_list=[
            OverdueClock(case_id=c, station=code(s), kind=k, due_at=d)
            for c, s, k, d in repository.overdue_clock_list(session, w, LIST_LIMIT)
        ],
        overdue_callbacks=_total(callbacks),
        overdue_callback_list=[
            OverdueCallback(case_id=c, station=code(s), seq=q, due_at=d, overdue_at=o)
            for c, s, q, d, o in repository.overdue_callback_list(session, w, LIST_LIMIT)
        ],
        escalations=_total(escalations),
        escalations_by_tier=repository.escalations_by_tier(session, w),
        escalation_list=[
            EscalationRow(
                case_id=c,
                station=code(s),
                at=at,
                tier=int(data.get("tier", 0)),
                reason=str(data.get("reason", "")),
            )
            for c, s, at, data in repository.event_list(session, w, "escalated", LIST_LIMIT)
        ],
        review=_review(session, w, code),
        guards=_guards(session, w, code),
        handovers=_total(handovers),
        handover_notes=[
            HandoverNote(case_id=c, station=code(s), at=at, note=str(data.get("note", "")))
            for c, s, at, data in repository.event_list(session, w, "handover", LIST_LIMIT)
        ],
        stations=_station_lines(
            session,
            w,
            units,
            {
                "clocks": clocks,
                "callbacks": callbacks,
                "escalations": escalations,
                "handovers": handovers,
                "findings": findings,
                "first_reach": first_reach,
            },
        ),
    )


def _stations(session: Session, scope: Scope) -> list[OrgUnit]:
    return [scope.station] if scope.station else org_repo.stations(session)


def _coder(session: Session, units: list[OrgUnit]) -> Callable[[StationId], str | None]:
    codes = {u.id: u.code for u in units}

    def code(station_id: StationId) -> str | None:
        return codes.get(station_id) if station_id is not None else None

    return code


def _total(per_station: PerStation) -> int:
    return sum(per_station.values())


def _review(session: Session, w: Window, code: Callable[[StationId], str | None]) -> ReviewSummary:
    decided = repository.review_decisions(session, w)
    by_item = repository.findings_by_item(session, w)
    return ReviewSummary(
        decided=sum(decided.values()),
        confirmed=decided.get("confirmed", 0),
        overridden=decided.get("overridden", 0),
        findings=sum(n for _, n, _ in by_item),
        findings_overridden=sum(o for _, _, o in by_item),
        findings_by_item={item: n for item, n, _ in by_item},
        notices_issued=repository.notices_issued(session, w),
        notices=[
            NoticeRow(
                notice_id=n.id,
                case_id=n.case_id,
                station=code(n.station_id),
                issued_at=n.issued_at,
                items=list(n.items or []),
                state=n.state,
            )
            for n in repository.notice_list(session, w, LIST_LIMIT)
        ],
    )


def _guards(session: Session, w: Window, code: Callable[[StationId], str | None]) -> GuardSummary:
    by_kind = repository.answered_by_kind(session, w)
    return GuardSummary(
        requested=repository.help_requested(session, w),
        answered=sum(n for _, n, _ in by_kind),
        first_to_reach=sum(f for _, _, f in by_kind),
        answered_by_kind={kind: n for kind, n, _ in by_kind},
        answers=[
            GuardRow(
                case_id=c,
                station=code(s),
                helper_kind=h.helper_kind,
                helper=h.helper_masked,
                answered_at=h.answered_at or w.start,
                answer=h.answer,
                first_to_reach=h.first_to_reach,
            )
            for c, s, h in repository.answer_list(session, w, LIST_LIMIT)
        ],
    )


def _station_lines(
    session: Session, w: Window, units: list[OrgUnit], counts: dict[str, PerStation]
) -> list[StationLine]:
    outcomes = repository.outcomes_by_station(session, w)
    warnings = repository.warnings_by_station(session, w)
    lines = []
    for unit in units:
        o = outcomes.get(unit.id)
        lines.append(
            StationLine(
                code=unit.code,
                name=unit.name,
                warnings=warnings.get(unit.id, 0),
                cases=o.cases if o else 0,
                dissuaded=o.dissuaded if o else 0,
                money_protected=reports.money(o.money_protected if o else None),
                lost=o.lost if o else 0,
                money_lost=reports.money(o.money_lost if o else None),
                overdue_clocks=counts["clocks"].get(unit.id, 0),
                overdue_callbacks=counts["callbacks"].get(unit.id, 0),
                escalations=counts["escalations"].get(unit.id, 0),
                findings=counts["findings"].get(unit.id, 0),
                guard_first_reach=counts["first_reach"].get(unit.id, 0),
                handovers=counts["handovers"].get(unit.id, 0),
            )
        )
    return lines


# --- generating and storing --------------------------------------------------------------------------


def generate(session: Session, rt: Runtime, actor: Actor, station: str | None, day: date) -> BriefingEntry:
    """Computes and stores the briefing of (scope, day); again for the same day updates the stored
    one (idempotent per scope and day). Audited."""
    _check_day(rt, day)
    if actor.role not in (Role.CENTRE, Role.ADMIN, Role.CHIEF, Role.BRANCH):
        briefing_scope(actor)  # a reader who may not generate gets the reader's error first
        raise Forbidden("generating a briefing needs the centre, a branch or the station chief")
    scope = resolve_scope(session, actor, station)
    return _store(session, rt, actor, scope, day)


def _store(session: Session, rt: Runtime, actor: Actor, scope: Scope, day: date) -> BriefingEntry:
    data = _compute(session, rt, actor, scope, day).model_dump(mode="json")
    now = rt.clock.now()
    row = repository.stored(session, scope.key, day, for_update=True)
    if row is None:
        row = StoredBriefing(
            scope=scope.key,
            station_id=scope.station.id if scope.station else None,
            day=day,
            generated_at=now,
            generated_by=actor.label,
            generations=1,
            data=data,
        )
        session.add(row)
    else:
        row.data, row.generated_at, row.generated_by = data, now, actor.label
        row.generations += 1
    session.flush()
    audit.record(
        session,
        rt.clock,
        actor,
        "briefing.generated",
        "briefing",
        row.id,
        {"scope": scope.key, "day": day.isoformat(), "generation": row.generations},
    )
    return _entry(row, scope)


def _entry(row: StoredBriefing, scope: Scope) -> BriefingEntry:
    ref = StationRef(code=scope.station.code, name=scope.station.name) if scope.station else None
    return BriefingEntry(
        day=row.day,
        scope=row.scope,
        station=ref,
        generated_at=row.generated_at,
        generated_by=row.generated_by,
        generations=row.generations,
    )


# --- reading ------------------------------------------------------------------------------------------


def read(
    session: Session, rt: Runtime, actor: Actor, station: str | None, day: date
) -> tuple[Briefing, bool]:
    """The stored briefing of (scope, day) if there is one, else computed now; and whether it
    was stored."""
    _check_day(rt, day)
    scope = resolve_scope(session, actor, station)
    row = repository.stored(session, scope.key, day)
    if row is not None:
        return Briefing.model_validate(row.data), True
    return _compute(session, rt, actor, scope, day), False


def list_briefings(session: Session, rt: Runtime, actor: Actor, station: str | None) -> list[BriefingEntry]:
    """Stored briefings the actor may read (newest first): the district's and every station's for
    the district-wide roles, a branch's stations', a station's own."""
    scope = briefing_scope(actor)
    units = {u.id: u for u in org_repo.stations(session)}
    if station is not None:
        one = resolve_scope(session, actor, station)
        scopes: list[str] | None = [one.key]
    elif scope.all_stations:
        scopes = None
    elif scope.branch_id is not None:
        scopes = [u.code for u in units.values() if u.parent_id == scope.branch_id]
    else:
        scopes = [u.code for u in units.values() if u.id == scope.station_id]
    rows = repository.stored_list(session, scopes, limit=200)
    return [_entry(r, Scope(r.scope, units.get(r.station_id or -1))) for r in rows]


@dataclass(frozen=True, slots=True)
class Document:
    filename: str
    media_type: str
    content: bytes


def document(
    session: Session, rt: Runtime, actor: Actor, name: str, station: str | None, locale: str
) -> Document:
    """`2026-11-27.pdf` (html, pdf, xlsx or json) of the scope the actor asks for; audited."""
    day, fmt = parse_name(name)
    briefing, was_stored = read(session, rt, actor, station, day)
    if fmt == "html":
        content = render.html_document(briefing, locale).encode()
    elif fmt == "pdf":
        content = render.pdf(briefing, locale)
    elif fmt == "xlsx":
        content = render.xlsx(briefing, locale)
    else:
        content = briefing.model_dump_json().encode()
    audit.record(
        session,
        rt.clock,
        actor,
        "briefing.downloaded",
        "briefing",
        f"{briefing.scope}/{day.isoformat()}",
        {"format": fmt, "stored": was_stored, "bytes": len(content)},
    )
    return Document(f"briefing-{briefing.scope}-{day.isoformat()}.{fmt}", FORMATS[fmt], content)


def parse_name(name: str) -> tuple[date, str]:
    stem, _, fmt = name.rpartition(".")
    if fmt not in FORMATS:
        raise ValidationFailed([FieldError("format", f"格式可选：{', '.join(FORMATS)}")])
    return parse_day(stem), fmt


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed([FieldError("day", "应为日期，例如 2026-11-27")]) from None


# --- the daily timer ------------------------------------------------------------------------------------


def next_run(rt: Runtime, after: datetime) -> datetime:
    """The first moment after `after` at the policy's local time of day."""
    at = rt.policy.briefings.at
    local = after.astimezone(LOCAL_TZ)
    candidate = datetime.combine(local.date(), at, tzinfo=LOCAL_TZ)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=LOCAL_TZ)
    return candidate.astimezone(UTC)


def ensure_scheduled(session: Session, rt: Runtime) -> datetime:
    """Plans the next daily generation unless one is pending (the worker calls this at start, so
    a fresh installation starts its daily briefings). Returns when it is due."""
    pending = repository.pending_timer(session, TIMER_KIND)
    if pending is not None:
        return pending.due_at
    due = next_run(rt, rt.clock.now())
    schedule(session, TIMER_KIND, 0, due, TIMER_TOKEN, key=due.astimezone(LOCAL_TZ).date().isoformat())
    return due


def on_briefing_timer(session: Session, rt: Runtime, timer: Timer) -> str:
    """Generates yesterday's briefings (the district's and every station's), tells the centre and
    each station chief, and plans tomorrow's run."""
    day = timer.due_at.astimezone(LOCAL_TZ).date() - timedelta(days=1)
    centre = org_repo.centre(session)
    district = _store(session, rt, SYSTEM, Scope(DISTRICT, None), day)
    centre_users = escalation_repo.users_with_role(session, Role.CENTRE, [centre.id] if centre else [])
    _tell(session, rt, district, [u.id for u in centre_users])
    stations = org_repo.stations(session)
    for unit in stations:
        entry = _store(session, rt, SYSTEM, Scope(unit.code, unit), day)
        chiefs = escalation_repo.users_with_role(session, Role.CHIEF, [unit.id])
        _tell(session, rt, entry, [u.id for u in chiefs])
    following = next_run(rt, max(rt.clock.now(), timer.due_at))
    if repository.pending_timer(session, TIMER_KIND, other_than=timer.id) is None:
        schedule(
            session,
            TIMER_KIND,
            0,
            following,
            TIMER_TOKEN,
            key=following.astimezone(LOCAL_TZ).date().isoformat(),
        )
    return f"generated {1 + len(stations)}"


def _tell(session: Session, rt: Runtime, entry: BriefingEntry, user_ids: list[int]) -> None:
    where = entry.station.name if entry.station else "全区"
    link = f"/briefings/{entry.day.isoformat()}" + (f"?station={entry.scope}" if entry.station else "")
    announce(
        session,
        rt,
        Announcement(
            event="briefing.ready",
            case_id=None,
            title=f"{where} {entry.day.isoformat()} 日报已生成",
            body=f"{where} {entry.day.isoformat()} 的日报已生成：{link}",
        ),
        user_ids,
        [],
    )


def visible_stations(session: Session, actor: Actor) -> list[OrgUnit]:
    """The stations whose briefings the actor may read (for the page's station picker)."""
    scope = briefing_scope(actor)
    stations = org_repo.stations(session)
    if scope.all_stations:
        return stations
    if scope.branch_id is not None:
        return [u for u in stations if u.parent_id == scope.branch_id]
    return [u for u in stations if u.id == scope.station_id]
