"""Opening cases, merging repeat signals, and reading cases within the actor's scope."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import Actor
from quanzu.cases import repository
from quanzu.cases.schemas import (
    AssigneeView,
    CaseDetail,
    CaseSummary,
    EventView,
    RevealedTarget,
    RoutingView,
    ScamContactView,
    SignalView,
    StationRef,
    TargetView,
)
from quanzu.codes import RISK_LABELS, SCAM_TYPE_LABELS, CaseState, RiskLevel
from quanzu.dispatch.service import Announcement, announce
from quanzu.intake.schemas import RoutingOut, WarningAccepted, WarningIn
from quanzu.kit.errors import NotFound
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case, CaseAssignee, CaseEvent, EarlyWarning, Person, ScamContact
from quanzu.models.org import OrgUnit
from quanzu.org import repository as org_repo
from quanzu.routing.rules import RoutingDecision, RoutingMethod


def urgency(risk_level: str, signal_count: int) -> int:
    """Higher first in every queue: risk dominates, repeat signals break ties within a level."""
    return RiskLevel(risk_level).rank * 100 + min(signal_count, 99)


def add_event(session: Session, rt: Runtime, case: Case, kind: str, actor: Actor, **data: object) -> None:
    session.add(CaseEvent(case_id=case.id, at=rt.clock.now(), kind=kind, actor=actor.label, data=data))


def open_case(
    session: Session,
    rt: Runtime,
    actor: Actor,
    person: Person,
    warning: WarningIn,
    decision: RoutingDecision,
    now: datetime,
) -> Case:
    station = org_repo.unit_by_code(session, decision.station_code) if decision.station_code else None
    method, detail = decision.method.value, decision.detail
    if decision.station_code and station is None:  # rules named a station that no longer exists
        method, detail = RoutingMethod.TRIAGE.value, f"{detail}；但派出所 {decision.station_code} 不存在"
    case = Case(
        person_id=person.id,
        station_id=station.id if station else None,
        state=CaseState.DISPATCHED if station else CaseState.TRIAGE,
        tier=1,
        risk_level=warning.risk_level,
        scam_type=warning.scam_type,
        urgency=urgency(warning.risk_level, 1),
        signal_count=1,
        amount_at_risk=warning.amount_at_risk,
        routing_method=method,
        routing_detail=detail,
        opened_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    add_event(session, rt, case, "opened", actor, routing_method=method, routing_detail=detail)
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
    session: Session, rt: Runtime, actor: Actor, case: Case, warning: EarlyWarning
) -> None:
    """Dispatch the new case: to the station's people on duty now, or to the centre's triage."""
    add_event(session, rt, case, "signal", actor, warning_id=warning.id, source=warning.source)
    if case.station_id is None:
        _announce_triage(session, rt, case)
        return
    on_duty = org_repo.on_duty(session, case.station_id, rt.clock.now())
    for user, position in on_duty:
        session.add(
            CaseAssignee(case_id=case.id, user_id=user.id, position=position, assigned_at=rt.clock.now())
        )
    recipients = [u.id for u, _ in on_duty]
    if not on_duty:
        # Nobody rostered: the station's leads and the centre hear, so the warning still lands.
        recipients = [u.id for u in repository.station_leads(session, case.station_id)]
        recipients += [u.id for u in repository.centre_users(session)]
        add_event(session, rt, case, "nobody_on_duty", actor)
    add_event(session, rt, case, "dispatched", actor, user_ids=[u.id for u, _ in on_duty])
    station = session.get(OrgUnit, case.station_id)
    announce(
        session,
        rt,
        _announcement(session, case, "case.dispatched", "新预警"),
        recipients,
        _endpoint_units(session, station),
    )


def _announce_triage(session: Session, rt: Runtime, case: Case) -> None:
    centre = org_repo.centre(session)
    announce(
        session,
        rt,
        _announcement(session, case, "case.triage", "待分流预警"),
        [u.id for u in repository.centre_users(session)],
        [centre.id] if centre else [],
    )


def merge_signal(session: Session, rt: Runtime, actor: Actor, case: Case, warning: EarlyWarning) -> None:
    """A repeat warning: kept as its own signal, raises the case's risk and urgency, re-alerts."""
    case.signal_count += 1
    if RiskLevel(warning.risk_level).rank > RiskLevel(case.risk_level).rank:
        case.risk_level = warning.risk_level
    if warning.amount_at_risk is not None and (case.amount_at_risk or 0) < warning.amount_at_risk:
        case.amount_at_risk = warning.amount_at_risk
    case.urgency = urgency(case.risk_level, case.signal_count)
    case.updated_at = rt.clock.now()
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
    recipients = [u.id for _, u in repository.assignees(session, case.id)]
    if case.station_id is None:
        recipients += [u.id for u in repository.centre_users(session)]
    station = session.get(OrgUnit, case.station_id) if case.station_id else org_repo.centre(session)
    announce(
        session,
        rt,
        _announcement(session, case, "case.merged", f"重复预警（第{case.signal_count}次）"),
        recipients,
        _endpoint_units(session, station),
    )


def _endpoint_units(session: Session, unit: OrgUnit | None) -> list[int]:
    if unit is None:
        return []
    return [unit.id] + [t.id for t in org_repo.children(session, unit.id)]


def _announcement(session: Session, case: Case, event: str, headline: str) -> Announcement:
    person = session.get(Person, case.person_id)
    station = session.get(OrgUnit, case.station_id) if case.station_id else None
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


def acceptance(session: Session, warning: EarlyWarning) -> WarningAccepted:
    case = session.get(Case, warning.case_id)
    station = session.get(OrgUnit, case.station_id) if case and case.station_id else None
    return WarningAccepted(
        warning_id=warning.id,
        case_id=warning.case_id,
        station_code=station.code if station else None,
        routing=RoutingOut(method=warning.routing_method, detail=warning.routing_detail),
        merged=warning.merged,
    )


# --- reading --------------------------------------------------------------------------------------


def get_case(session: Session, actor: Actor, case_id: int) -> CaseDetail:
    case = repository.get_readable(session, actor, case_id)
    if case is None:
        # Another station's case looks exactly like a missing one: existence is not disclosed.
        raise NotFound(f"case {case_id} not found")
    stations = {case.station_id} if case.station_id is not None else set()
    summary = _summary(session, case, org_repo.units_by_ids(session, stations))
    signals = repository.warnings_of(session, case.id)
    contacts = repository.contacts_of(session, [w.id for w in signals])
    return CaseDetail(
        **summary.model_dump(),
        routing=RoutingView(method=case.routing_method, detail=case.routing_detail),
        assignees=[
            AssigneeView(
                user_id=u.id,
                username=u.username,
                display_name=u.display_name,
                position=a.position,
                assigned_at=a.assigned_at,
            )
            for a, u in repository.assignees(session, case.id)
        ],
        signals=[_signal(w, [c for c in contacts if c.warning_id == w.id]) for w in signals],
        timeline=[
            EventView(at=e.at, kind=e.kind, actor=e.actor, data=e.data)
            for e in repository.timeline(session, case.id)
        ],
        earlier_cases=[c.id for c in repository.earlier_cases(session, case.person_id, case.id)],
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
    return [_summary(session, c, units) for c in rows]


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


def _summary(session: Session, case: Case, units: dict[int, OrgUnit]) -> CaseSummary:
    person = session.get(Person, case.person_id)
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
