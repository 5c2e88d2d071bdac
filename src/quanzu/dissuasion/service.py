"""The prescribed steps (规定动作): signing, calling, analysing, searching, verifying, meeting,
closing with feedback; assigning, branch takeover and the centre's routing.

Every move goes through the one transition guard (`rules.advance`), writes a timeline event
and an audit entry in the same transaction, and meets the SLA clocks it satisfies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import Actor
from quanzu.auth.scoping import require_role
from quanzu.banks import service as banks
from quanzu.cases import repository as cases_repo
from quanzu.cases import service as cases
from quanzu.cases.timeline import add_event
from quanzu.codes import CaseState, OrgKind, Role
from quanzu.dispatch.service import Announcement, announce, broadcast_change
from quanzu.dissuasion import repository
from quanzu.dissuasion.rules import TWO_WAY_CONTACT, Action, DoneStep, advance, close_shortfalls, step_action
from quanzu.dissuasion.schemas import AssignIn, CloseIn, EscalateIn, RouteIn, StepIn, TakeoverIn
from quanzu.escalation import service as escalation
from quanzu.followups import service as followups
from quanzu.intel import service as intel
from quanzu.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case, CaseAssignee, CaseStep, ReverseCheckEntry
from quanzu.models.org import OrgUnit
from quanzu.org import repository as org_repo
from quanzu.review import service as review

HANDLERS = (Role.DISSUADER, Role.DUTY_LEADER, Role.CHIEF, Role.BRANCH, Role.CENTRE)
ASSIGNERS = (Role.DUTY_LEADER, Role.CHIEF, Role.BRANCH, Role.CENTRE)


def _changed(session: Session, rt: Runtime, case: Case) -> Case:
    """Every move ends here: the centre, the branch and the people on the case see it live."""
    broadcast_change(session, rt, case.id, case.state, cases_repo.audience(session, case, centre=True))
    return case


def _case_for(session: Session, actor: Actor, case_id: int, *roles: Role) -> Case:
    require_role(actor, *(roles or HANDLERS))
    case = cases_repo.get_readable(session, actor, case_id, for_update=True)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case


def record_step(session: Session, rt: Runtime, actor: Actor, case_id: int, step: StepIn) -> Case:
    case = _case_for(session, actor, case_id)
    case.state = advance(case.state, step_action(step.kind))
    now = rt.clock.now()
    row = repository.open_step(session, case.id, step.kind) if step.kind != "sign" else None
    if row is None:
        row = CaseStep(case_id=case.id, kind=step.kind, actor=actor.label, started_at=now, note=step.note)
        session.add(row)
    elif step.note:
        row.note = "\n".join(n for n in (row.note, step.note) if n)
    if step.outcome is not None or step.kind == "sign":
        row.ended_at, row.outcome = now, step.outcome
    case.updated_at = now
    _meet_slas(session, case, step, now)
    followups.start_on_step(session, rt, actor, case, step.kind, step.outcome)  # the 回访 plan
    if step.kind == "sign" and actor.kind == "user" and actor.id is not None:
        _assign(session, rt, case, actor.id, "member")  # whoever signs is on the case
    add_event(
        session,
        rt,
        case,
        "step",
        actor,
        step=step.kind,
        outcome=step.outcome,
        status="done" if row.ended_at else "started",
        note=step.note,
    )
    audit.record(
        session, rt.clock, actor, f"case.step.{step.kind}", "case", case.id, {"outcome": step.outcome}
    )
    return _changed(session, rt, case)


def _meet_slas(session: Session, case: Case, step: StepIn, now: datetime) -> None:
    """Meets the SLA clocks a step satisfies and keeps the case's milestones (the KPIs read them)."""
    if step.kind == "sign":
        escalation.meet_sla(session, case, "sign", now)
        case.signed_at = case.signed_at or now
    if (step.kind, step.outcome) in TWO_WAY_CONTACT:
        record_contact(session, case, now)
    if step.kind == "face_to_face" and step.outcome:
        escalation.meet_sla(session, case, "face_to_face", now)
        case.first_meeting_outcome = case.first_meeting_outcome or step.outcome


def record_contact(session: Session, case: Case, at: datetime) -> None:
    """Someone spoke with the target: an officer's call or meeting, or (the warning race) a
    guard or relative who reached them first."""
    escalation.meet_sla(session, case, "first_contact", at)
    if case.first_contact_at is None or at < case.first_contact_at:
        case.first_contact_at = at


def close(session: Session, rt: Runtime, actor: Actor, case_id: int, body: CloseIn) -> Case:
    case = _case_for(session, actor, case_id)
    from_triage = case.state == CaseState.TRIAGE
    case.state = advance(case.state, Action.CLOSE)
    if from_triage and (actor.role is not Role.CENTRE or body.outcome != "not_fraud"):
        raise Conflict("a case in triage can only be closed by the centre as not_fraud; route it first")
    _check_close_rules(session, rt, case, body, skip_steps=from_triage)
    now = rt.clock.now()
    session.add(
        CaseStep(
            case_id=case.id,
            kind="feedback",
            actor=actor.label,
            started_at=now,
            ended_at=now,
            outcome="submitted",
            note=body.note,
        )
    )
    session.add_all(
        ReverseCheckEntry(case_id=case.id, kind=e.kind, value=e.value, note=e.note)
        for e in body.reverse_check
    )
    case.outcome, case.closed_at, case.updated_at = body.outcome, now, now
    case.amount_protected, case.amount_lost = body.amount_protected, body.amount_lost
    escalation.meet_sla(session, case, "feedback", now)
    escalation.stop_on_close(case)
    banks.end_on_close(session, rt, actor, case)
    intel.on_case_closed(session, rt, actor, case, body.reverse_check)  # link the fraudster contacts
    add_event(
        session,
        rt,
        case,
        "closed",
        actor,
        outcome=body.outcome,
        reverse_check=len(body.reverse_check),
        amount_protected=str(body.amount_protected) if body.amount_protected is not None else None,
        amount_lost=str(body.amount_lost) if body.amount_lost is not None else None,
    )
    audit.record(session, rt.clock, actor, "case.closed", "case", case.id, {"outcome": body.outcome})
    review.enqueue(session, rt, case)  # every closed case waits for the centre's review (复查)
    return _changed(session, rt, case)


def _check_close_rules(session: Session, rt: Runtime, case: Case, body: CloseIn, *, skip_steps: bool) -> None:
    errors = []
    if not skip_steps:
        done = [
            DoneStep(s.kind, s.outcome, s.ended_at is not None) for s in repository.steps(session, case.id)
        ]
        for gap in close_shortfalls(rt.policy, case.risk_level, body.outcome, done):
            errors.append(FieldError("outcome", gap))
    if body.outcome in rt.policy.reverse_check_required and not body.reverse_check:
        errors.append(FieldError("reverse_check", f"结案为 {body.outcome} 时须填写倒查清单（至少一项）"))
    if errors:
        raise ValidationFailed(errors)


def escalate(session: Session, rt: Runtime, actor: Actor, case_id: int, body: EscalateIn) -> Case:
    case = _case_for(session, actor, case_id)
    advance(case.state, Action.ESCALATE)
    escalation.escalate_manually(session, rt, actor, case, body.reason)
    return _changed(session, rt, case)


def acknowledge(session: Session, rt: Runtime, actor: Actor, case_id: int) -> Case:
    case = _case_for(session, actor, case_id)
    advance(case.state, Action.ACKNOWLEDGE)
    escalation.acknowledge(session, rt, actor, case)
    return _changed(session, rt, case)


def assign(session: Session, rt: Runtime, actor: Actor, case_id: int, body: AssignIn) -> Case:
    case = _case_for(session, actor, case_id, *ASSIGNERS)
    advance(case.state, Action.ASSIGN)
    user = org_repo.user_by_username(session, body.user)
    allowed_units = _handling_units(session, case)
    if user is None or not user.active or user.org_unit_id not in allowed_units:
        raise ValidationFailed([FieldError("user", f"{body.user} 不是本案承办单位的在岗人员")])
    _assign(session, rt, case, user.id, "member")
    add_event(session, rt, case, "assigned", actor, user_id=user.id, username=user.username)
    audit.record(session, rt.clock, actor, "case.assigned", "case", case.id, {"user_id": user.id})
    announce(
        session,
        rt,
        Announcement(
            "case.assigned", case.id, f"指派案件 #{case.id}", f"{actor.name} 将案件 #{case.id} 指派给你。"
        ),
        [user.id],
        [],
    )
    return _changed(session, rt, case)


def _handling_units(session: Session, case: Case) -> set[int]:
    units: set[int] = set()
    for unit_id in (case.station_id, case.handling_unit_id):
        if unit_id is not None:
            units.update(u.id for u in [session.get(OrgUnit, unit_id)] if u)
            units.update(u.id for u in org_repo.children(session, unit_id))
    return units


def _assign(session: Session, rt: Runtime, case: Case, user_id: int, position: str) -> None:
    if repository.active_assignment(session, case.id, user_id) is None:
        session.add(
            CaseAssignee(case_id=case.id, user_id=user_id, position=position, assigned_at=rt.clock.now())
        )


def takeover(session: Session, rt: Runtime, actor: Actor, case_id: int, body: TakeoverIn) -> Case:
    """The branch squadron takes a hard case over (or co-handles it with the station)."""
    case = _case_for(session, actor, case_id, Role.BRANCH)
    advance(case.state, Action.TAKEOVER)
    case.handling_unit_id, case.handling_mode = actor.branch_id, body.mode
    case.tier = max(case.tier, 2)
    case.updated_at = rt.clock.now()
    if actor.id is not None:
        _assign(session, rt, case, actor.id, "leader" if body.mode == "takeover" else "member")
    add_event(session, rt, case, body.mode, actor, note=body.note)
    audit.record(session, rt.clock, actor, f"case.{body.mode}", "case", case.id, {})
    verb = "接管" if body.mode == "takeover" else "协同处置"
    recipients = [a.user_id for a in repository.active_assignees(session, case.id)]
    text = body.note or f"{actor.name} 已{verb}案件 #{case.id}。"
    announce(
        session,
        rt,
        Announcement(f"case.{body.mode}", case.id, f"分局中队{verb}案件 #{case.id}", text),
        recipients,
        [],
    )
    return _changed(session, rt, case)


def route(session: Session, rt: Runtime, actor: Actor, case_id: int, body: RouteIn) -> Case:
    """The centre routes a triage case, or moves a case to another station."""
    case = _case_for(session, actor, case_id, Role.CENTRE)
    case.state = advance(case.state, Action.ROUTE)
    station = org_repo.unit_by_code(session, body.station)
    if station is None or station.kind != OrgKind.STATION:
        raise ValidationFailed([FieldError("station", f"没有代码为 {body.station} 的派出所")])
    if station.id == case.station_id:
        raise Conflict(f"case {case.id} is already at {station.code}")
    now = rt.clock.now()
    for a in repository.active_assignees(session, case.id):
        a.released_at = now
    previous = case.station_id
    case.station_id = station.id
    followups.follow_case_station(session, case)  # the callbacks keep the case's station
    case.routing_method, case.routing_detail = (
        "manual",
        f"反诈中心人工指派 → {station.name}" + (f"（{body.note}）" if body.note else ""),
    )
    case.updated_at = now
    add_event(
        session, rt, case, "routed", actor, from_station_id=previous, to_station_id=station.id, note=body.note
    )
    audit.record(session, rt.clock, actor, "case.routed", "case", case.id, {"station": station.code})
    cases.dispatch_to_station(session, rt, actor, case)
    return _changed(session, rt, case)
