"""Opening cases, merging repeat signals, and reading cases within the actor's scope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import Actor
from quanzu.cases import repository
from quanzu.cases.schemas import (
    AssigneeView,
    BoardFilters,
    BoardRow,
    CaseDetail,
    CaseSummary,
    EscalationView,
    EventView,
    RevealedTarget,
    ReverseCheckView,
    RoutingView,
    ScamContactView,
    SignalView,
    SlaView,
    StationRef,
    StepView,
    TargetView,
)
from quanzu.cases.timeline import Event, add_event, add_events
from quanzu.codes import REPEAT_WARNING_WINDOW, RISK_LABELS, SCAM_TYPE_LABELS, CaseState, RiskLevel
from quanzu.dispatch.service import Announcement, announce
from quanzu.dissuasion import repository as dissuasion_repo
from quanzu.escalation import repository as escalation_repo
from quanzu.escalation.service import plan_slas
from quanzu.intake.schemas import RoutingOut, WarningAccepted, WarningIn
from quanzu.kit.db import add_with_id, get, insert_rows
from quanzu.kit.errors import Conflict, NotFound
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case, CaseAssignee, CaseSla, EarlyWarning, Person, ScamContact
from quanzu.models.org import OrgUnit
from quanzu.org import cache as org_cache
from quanzu.org import repository as org_repo
from quanzu.routing.rules import RoutingDecision, RoutingMethod
from quanzu.timers.service import TimerRow

PERSON_LOCK = "person:"  # advisory lock keys on a person's blind indexes


def person_lock_keys(*blind_indexes: str | None) -> list[str]:
    """The advisory lock keys that serialise work on one person across processes: intake's
    find-or-create and merge, a follow-up warning's reopening (and a batch's lookups parse them)."""
    return [f"{PERSON_LOCK}{k}" for k in blind_indexes if k]


def urgency(risk_level: str, signal_count: int) -> int:
    """Higher first in every queue: risk dominates, repeat signals break ties within a level."""
    return RiskLevel(risk_level).rank * 100 + min(signal_count, 99)


def open_case(
    session: Session,
    rt: Runtime,
    actor: Actor,
    person: Person,
    warning: WarningIn,
    decision: RoutingDecision,
    now: datetime,
    *,
    new_person: bool,
) -> Case:
    """Opens a case for the person's first warning (the caller stores the warning). Whether it
    is a repeat warning (KPI) is decided now and kept on the case: a person created for this
    warning has no earlier one, so only a known person costs one indexed query."""
    org = rt.org.get(session)
    station = org.station(decision.station_code)
    method, detail = decision.method.value, decision.detail
    if decision.station_code and station is None:  # rules named a station that no longer exists
        method, detail = RoutingMethod.TRIAGE.value, f"{detail}；但派出所 {decision.station_code} 不存在"
    case = Case(
        person_id=person.id,
        station_id=station.id if station else None,
        state=CaseState.DISPATCHED if station else CaseState.TRIAGE,
        tier=1,
        risk_level=warning.level,
        scam_type=warning.scam_type,
        urgency=urgency(warning.level, 1),
        signal_count=1,
        amount_at_risk=warning.amount_at_risk,
        routing_method=method,
        routing_detail=detail,
        opened_at=now,
        updated_at=now,
        repeat_warned_30d=not new_person
        and repository.warned_between(session, person.id, now - REPEAT_WARNING_WINDOW, now),
    )
    add_with_id(session, case)
    audit.record(
        session,
        rt.clock,
        actor,
        "case.opened",
        "case",
        case.id,
        {"state": case.state, "station_id": case.station_id},
    )
    return case


def record_first_signal(
    session: Session,
    rt: Runtime,
    actor: Actor,
    case: Case,
    warning: EarlyWarning,
    timers: Sequence[TimerRow] = (),
) -> None:
    """Dispatch the new case: to the station's people on duty now, or to the centre's triage;
    its SLA clocks start now (with `timers`, the warning's other timers, in the same insert)."""
    opened: Event = (
        case,
        "opened",
        {
            "warning_id": warning.id,
            "source": warning.source,
            "routing_method": case.routing_method,
            "routing_detail": case.routing_detail,
        },
    )
    plan_slas(session, rt, case, new=True, also=timers)
    if case.station_id is None:
        add_events(session, rt, actor, [opened])
        _announce_triage(session, rt, case)
        return
    dispatch_to_station(session, rt, actor, case, also=[opened])


def dispatch_to_station(
    session: Session, rt: Runtime, actor: Actor, case: Case, *, also: Sequence[Event] = ()
) -> None:
    """Assigns the station's on-duty team and tells them (or its leads, if nobody is rostered).
    `also`: earlier timeline events of the transaction, written in the same insert as its own
    (intake's `opened`)."""
    if case.station_id is None:
        raise Conflict(f"case {case.id} has no station yet; route it first")
    now = rt.clock.now()
    on_duty = org_cache.on_duty(session, rt.roster, case.station_id, now)
    insert_rows(
        session,
        CaseAssignee,
        [
            {"case_id": case.id, "user_id": user_id, "position": position, "assigned_at": now}
            for user_id, position in on_duty
        ],
    )
    recipients = [user_id for user_id, _ in on_duty]
    events = list(also)
    if not on_duty:
        # Nobody rostered: the station's leads and the centre hear, so the warning still lands.
        recipients = [u.id for u in repository.station_leads(session, case.station_id)]
        recipients += org_cache.centre_staff(session, rt.roster, rt.clock.now())
        events.append((case, "nobody_on_duty", {}))
    events.append((case, "dispatched", {"user_ids": [user_id for user_id, _ in on_duty]}))
    add_events(session, rt, actor, events)
    announce(
        session,
        rt,
        _announcement(session, rt, case, "case.dispatched", "新预警"),
        recipients,
        rt.org.get(session).with_children(case.station_id),
    )


def _announce_triage(session: Session, rt: Runtime, case: Case) -> None:
    centre = rt.org.get(session).centre
    announce(
        session,
        rt,
        _announcement(session, rt, case, "case.triage", "待分流预警"),
        org_cache.centre_staff(session, rt.roster, rt.clock.now()),
        [centre.id] if centre else [],
    )


def merge_signal(
    session: Session,
    rt: Runtime,
    actor: Actor,
    case: Case,
    warning: EarlyWarning,
    *,
    assignee_ids: list[int] | None = None,
) -> None:
    """A repeat warning: kept as its own signal, raises the case's risk and urgency, re-alerts.
    `assignee_ids`: the case's active assignees' user ids where the caller loaded them (a batch
    of warnings); None: looked up."""
    case.signal_count += 1
    raised = RiskLevel(warning.risk_level).rank > RiskLevel(case.risk_level).rank
    if raised:
        case.risk_level = warning.risk_level
    if warning.amount_at_risk is not None and (case.amount_at_risk or 0) < warning.amount_at_risk:
        case.amount_at_risk = warning.amount_at_risk
    case.urgency = urgency(case.risk_level, case.signal_count)
    case.updated_at = rt.clock.now()
    if raised:  # tightens the open deadlines; at the same level they stand as planned
        plan_slas(session, rt, case)
    add_event(
        session,
        rt,
        case,
        "signal_merged",
        actor,
        warning_id=warning.id,
        source=warning.source,
        signal_count=case.signal_count,
    )
    if assignee_ids is None:
        assignee_ids = [u.id for _, u in repository.assignees(session, case.id)]
    recipients = list(assignee_ids)  # a copy: a batch's loaded list stays as it was loaded
    org = rt.org.get(session)
    if case.station_id is None:
        recipients += org_cache.centre_staff(session, rt.roster, rt.clock.now())
    unit_id = case.station_id if case.station_id is not None else (org.centre.id if org.centre else None)
    headline = f"重复预警（第{case.signal_count}次）"
    announce(
        session,
        rt,
        _announcement(session, rt, case, "case.merged", headline),
        recipients,
        org.with_children(unit_id),
    )


def _announcement(session: Session, rt: Runtime, case: Case, event: str, headline: str) -> Announcement:
    person = get(session, Person, case.person_id)
    station = rt.org.get(session).units.get(case.station_id) if case.station_id else None
    place = station.name if station else "反诈中心分流"
    scam = SCAM_TYPE_LABELS.get(case.scam_type, case.scam_type)
    risk = RISK_LABELS.get(case.risk_level, case.risk_level)
    who = f"{person.name_masked or '未知'} {person.phone_masked}".strip() if person else ""
    amount = f"，涉案金额 {case.amount_at_risk} 元" if case.amount_at_risk else ""
    return Announcement(
        event=event,
        case_id=case.id,
        title=f"{headline}：{place} {risk}风险 {scam}",
        body=f"案件 #{case.id}：{who}，{scam}{amount}。{case.routing_detail}",
    )


def acceptance(session: Session, rt: Runtime, warning: EarlyWarning) -> WarningAccepted:
    case = get(session, Case, warning.case_id)
    station = rt.org.get(session).units.get(case.station_id) if case and case.station_id else None
    return WarningAccepted(
        warning_id=warning.id,
        case_id=warning.case_id,
        station_code=station.code if station else None,
        routing=RoutingOut(method=warning.routing_method, detail=warning.routing_detail),
        merged=warning.merged,
    )


# --- reading --------------------------------------------------------------------------------------


def get_case(session: Session, rt: Runtime, actor: Actor, case_id: int) -> CaseDetail:
    case = repository.get_readable(session, actor, case_id)
    if case is None:
        # Another station's case looks exactly like a missing one: existence is not disclosed.
        raise NotFound(f"case {case_id} not found")
    return case_detail(session, rt, case)


def case_detail(session: Session, rt: Runtime, case: Case) -> CaseDetail:
    unit_ids = {i for i in (case.station_id, case.handling_unit_id) if i is not None}
    units = org_repo.units_by_ids(session, unit_ids)
    signals = repository.warnings_of(session, case.id)
    contacts = repository.contacts_of(session, [w.id for w in signals])
    handling = units.get(case.handling_unit_id) if case.handling_unit_id else None
    return CaseDetail(
        **_summary(case, units, session.get(Person, case.person_id)).model_dump(),
        routing=RoutingView(method=case.routing_method, detail=case.routing_detail),
        outcome=case.outcome,
        amount_protected=case.amount_protected,
        amount_lost=case.amount_lost,
        closed_at=case.closed_at,
        handling=StationRef(code=handling.code, name=handling.name) if handling else None,
        handling_mode=case.handling_mode,
        escalation=_escalation_view(case),
        steps=[
            StepView.model_validate(s, from_attributes=True) for s in dissuasion_repo.steps(session, case.id)
        ],
        sla=[_sla_view(s, rt.clock.now()) for s in escalation_repo.slas(session, case.id)],
        reverse_check=[
            ReverseCheckView.model_validate(e, from_attributes=True)
            for e in dissuasion_repo.reverse_check(session, case.id)
        ],
        assignees=[
            AssigneeView(
                user_id=u.id,
                username=u.username,
                display_name=u.display_name,
                position=a.position,
                assigned_at=a.assigned_at,
                released_at=a.released_at,
            )
            for a, u in repository.assignees(session, case.id, active_only=False)
        ],
        signals=[_signal(w, [c for c in contacts if c.warning_id == w.id]) for w in signals],
        timeline=[
            EventView(at=e.at, kind=e.kind, actor=e.actor, data=e.data)
            for e in repository.timeline(session, case.id)
        ],
        earlier_cases=[c.id for c in repository.earlier_cases(session, case.person_id, case.id)],
    )


def _sla_view(sla: CaseSla, now: datetime) -> SlaView:
    if sla.met_at is not None:
        status = "met" if sla.met_at <= sla.due_at else "met_late"
    elif sla.breached_at is not None or now >= sla.due_at:
        status = "breached"
    else:
        status = "pending"
    left = None if sla.met_at else int((sla.due_at - now).total_seconds())
    return SlaView(
        kind=sla.kind,
        due_at=sla.due_at,
        met_at=sla.met_at,
        breached_at=sla.breached_at,
        status=status,
        seconds_left=left,
    )


def _escalation_view(case: Case) -> EscalationView | None:
    plan = case.escalation
    if not plan:
        return None
    return EscalationView(
        state=plan.get("state", ""),
        reason=plan.get("reason", ""),
        started_at=plan.get("started_at", ""),
        tier=case.tier,
        acknowledged_by=plan.get("acknowledged_by"),
    )


def list_cases(
    session: Session,
    actor: Actor,
    *,
    states: list[str] | None = None,
    station_code: str | None = None,
    risk_levels: list[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[CaseSummary]:
    station_id = None
    if station_code:
        station = org_repo.unit_by_code(session, station_code)
        station_id = station.id if station else -1
    rows = repository.list_readable(
        session,
        actor,
        states=states,
        station_id=station_id,
        risk_levels=risk_levels,
        limit=limit,
        offset=offset,
    )
    units = org_repo.units_by_ids(session, {c.station_id for c in rows if c.station_id is not None})
    persons = repository.persons_by_ids(session, {c.person_id for c in rows})
    return [_summary(c, units, persons.get(c.person_id)) for c in rows]


def reveal_target(session: Session, rt: Runtime, actor: Actor, case_id: int) -> RevealedTarget:
    """Unmasked PII for someone who may see the case; every call is in the audit trail."""
    case = repository.get_readable(session, actor, case_id)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    person = session.get(Person, case.person_id)
    if person is None:
        raise NotFound(f"case {case_id} has no target")

    def dec(blob: bytes | None, field: str) -> str | None:
        return rt.cipher.decrypt(blob, context=f"person.{field}") if blob else None

    audit.record(session, rt.clock, actor, "pii.read", "person", person.id, {"case_id": case.id})
    return RevealedTarget(
        name=dec(person.name_enc, "name") or "",
        phone=dec(person.phone_enc, "phone"),
        id_number=dec(person.id_number_enc, "id_number"),
        address=dec(person.address_enc, "address"),
        employer=person.employer,
        age=person.age,
        gender=person.gender,
    )


def _summary(case: Case, units: dict[int, OrgUnit], person: Person | None) -> CaseSummary:
    station = units.get(case.station_id) if case.station_id else None
    return CaseSummary(
        case_id=case.id,
        state=case.state,
        tier=case.tier,
        risk_level=case.risk_level,
        scam_type=case.scam_type,
        urgency=case.urgency,
        signal_count=case.signal_count,
        station=StationRef(code=station.code, name=station.name) if station else None,
        target=TargetView(
            name=person.name_masked if person else "",
            phone=person.phone_masked if person else "",
            id_number=person.id_number_masked if person else "",
        ),
        amount_at_risk=case.amount_at_risk,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
    )


def _signal(w: EarlyWarning, contacts: list[ScamContact]) -> SignalView:
    return SignalView(
        warning_id=w.id,
        source=w.source,
        external_id=w.external_id,
        issued_at=w.issued_at,
        received_at=w.received_at,
        merged=w.merged,
        scam_type=w.scam_type,
        risk_level=w.risk_level,
        amount_at_risk=w.amount_at_risk,
        description=w.description,
        scam_contacts=[ScamContactView(kind=c.kind, value=c.value) for c in contacts],
    )


def board(
    session: Session,
    rt: Runtime,
    actor: Actor,
    filters: BoardFilters,
    *,
    mine: bool = False,
    limit: int = 200,
) -> list[BoardRow]:
    """Open cases the actor may see, overdue and escalated first. `mine`: only those the actor
    is assigned to (the officer's "my tasks")."""
    now = rt.clock.now()
    station_id = None
    if filters.station:
        unit = rt.org.get(session).station(filters.station)
        station_id = unit.id if unit else -1
    rows = repository.open_board(
        session,
        actor,
        now,
        mine=actor.id if mine else None,
        station_id=station_id,
        risk_level=filters.risk or None,
        scam_type=filters.scam_type or None,
        state=filters.state or None,
        tier=filters.tier,
        limit=limit,
    )
    units = org_repo.units_by_ids(session, {c.station_id for c, _, _ in rows if c.station_id is not None})
    persons = repository.persons_by_ids(session, {c.person_id for c, _, _ in rows})
    return [
        BoardRow(
            case=_summary(c, units, persons.get(c.person_id)),
            next_sla=kind,
            next_due_at=due,
            overdue=due is not None and due <= now,
            escalated=c.tier > 1,
        )
        for c, due, kind in rows
    ]
