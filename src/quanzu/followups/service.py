"""After the meeting: follow-up callbacks (回访), the awakening room (反诈叫醒室) and the
protective actions taken for a target.

A plan of callbacks is created from the policy when a case's first meeting (or, at some risk
levels, a call that dissuaded the target) is recorded. Each callback has two timers carrying its
token: a reminder to the officer, and the overdue mark that escalates. A warning sign recorded on
a callback reopens the case (the one transition guard), raises its risk a level, restarts its SLA
clocks and re-alerts the station; a new warning for a person still under follow-up does the same
through intake. Every move writes a timeline event and an audit entry; services never commit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import SYSTEM, Actor
from quanzu.auth.scoping import require_role
from quanzu.banks import service as banks
from quanzu.cases import repository as cases_repo
from quanzu.cases.service import person_lock_keys, urgency
from quanzu.cases.timeline import add_event
from quanzu.codes import (
    PROTECTIVE_ACTION_LABELS,
    RISK_LABELS,
    WARNING_SIGN_LABELS,
    CaseState,
    OrgKind,
    Role,
)
from quanzu.codes import (
    ProtectiveAction as ProtectiveCode,
)
from quanzu.dispatch.service import Announcement, announce, broadcast_change
from quanzu.dissuasion import repository as dissuasion_repo
from quanzu.dissuasion.rules import Action, advance
from quanzu.escalation import service as escalation
from quanzu.followups import repository
from quanzu.followups.rules import LOCAL_TZ, callback_status, plan_callbacks, raised, starts_plan
from quanzu.followups.schemas import (
    AwakeningIn,
    AwakeningRecordIn,
    AwakeningView,
    CallbackIn,
    CallbackView,
    DueCallback,
    FollowUpPlanView,
    FollowUps,
    ProtectiveActionsIn,
    ProtectiveActionsView,
    ProtectiveItemView,
)
from quanzu.kit.db import advisory_lock
from quanzu.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case, Person
from quanzu.models.followups import AwakeningSession, FollowUpCallback, FollowUpPlan, ProtectiveAction
from quanzu.models.org import OrgUnit
from quanzu.models.timers import Timer
from quanzu.org import cache as org_cache
from quanzu.org import repository as org_repo
from quanzu.timers.service import new_token, schedule

HANDLERS = (Role.DISSUADER, Role.DUTY_LEADER, Role.CHIEF, Role.BRANCH, Role.CENTRE)
# The clocks a reopened case runs again: someone must speak with the target, meet them where the
# policy asks for a meeting, and close the case again with its feedback.
REOPEN_SLAS = ("first_contact", "face_to_face", "feedback")


# --- the status the centre's review reads ---------------------------------------------------------


def follow_up_status(session: Session, case_id: int, now: datetime) -> str | None:
    """None (no plan), "on_track", or "behind" (some callback overdue and not recorded)."""
    plan = repository.plan_of(session, case_id)
    if plan is None:
        return None
    behind = any(
        cb.done_at is None and cb.overdue_at <= now for cb in repository.callbacks_of(session, plan.id)
    )
    return "behind" if behind else "on_track"


# --- the plan ---------------------------------------------------------------------------------------


def start_on_step(
    session: Session, rt: Runtime, actor: Actor, case: Case, kind: str, outcome: str | None
) -> FollowUpPlan | None:
    """Called by every recorded step: the first meeting (or a dissuading call, where the policy
    says so) starts the case's plan, once."""
    policy = rt.policy.followups
    if not starts_plan(policy, case.risk_level, kind, outcome):
        return None
    if repository.plan_of(session, case.id) is not None:
        return None
    if case.station_id is None:  # steps need a routed case; the callbacks carry its station
        raise Conflict(f"case {case.id} has no station yet; route it first")
    now = rt.clock.now()
    plan = FollowUpPlan(
        case_id=case.id,
        person_id=case.person_id,
        risk_level=case.risk_level,
        trigger=kind,
        started_at=now,
        created_by=actor.label,
        officer_id=actor.id if actor.kind == "user" else None,
    )
    session.add(plan)
    session.flush()
    planned = plan_callbacks(policy, case.risk_level, now)
    for p in planned:
        cb = FollowUpCallback(
            plan_id=plan.id,
            case_id=case.id,
            station_id=case.station_id,
            seq=p.seq,
            day=p.day,
            due_at=p.due_at,
            overdue_at=p.overdue_at,
            token=new_token(),
            warning_signs=[],
        )
        session.add(cb)
        session.flush()
        schedule(session, "followup_remind", cb.id, max(p.remind_at, now), cb.token)
        schedule(session, "followup_overdue", cb.id, p.overdue_at, cb.token)
    add_event(session, rt, case, "followup_planned", actor, trigger=kind, days=[p.day for p in planned])
    audit.record(
        session, rt.clock, actor, "followup.planned", "case", case.id, {"days": [p.day for p in planned]}
    )
    return plan


def follow_case_station(session: Session, case: Case) -> None:
    """The case moved to another station: its callbacks (done or not) go with it, in the same
    transaction, so what they count under (the briefing's overdue callbacks) is the case's station."""
    if case.station_id is not None:
        repository.move_callbacks(session, case.id, case.station_id)


def follow_ups(session: Session, rt: Runtime, actor: Actor, case_id: int) -> FollowUps:
    case = _readable(session, actor, case_id)
    return follow_ups_of(session, rt, case)


def follow_ups_of(session: Session, rt: Runtime, case: Case) -> FollowUps:
    plan = repository.plan_of(session, case.id)
    if plan is None:
        return FollowUps(case_id=case.id, plan=None)
    now = rt.clock.now()
    callbacks = repository.callbacks_of(session, plan.id)
    views = [_callback_view(cb, now) for cb in callbacks]
    status = (
        "completed"
        if plan.ended_at
        else "behind"
        if any(v.status == "overdue" for v in views)
        else "on_track"
    )
    officer = (
        org_repo.users_by_ids(session, {plan.officer_id}).get(plan.officer_id) if plan.officer_id else None
    )
    return FollowUps(
        case_id=case.id,
        plan=FollowUpPlanView(
            plan_id=plan.id,
            case_id=case.id,
            risk_level=plan.risk_level,
            trigger=plan.trigger,
            started_at=plan.started_at,
            officer=officer.display_name if officer else None,
            ended_at=plan.ended_at,
            status=status,
            callbacks=views,
        ),
    )


def _callback_view(cb: FollowUpCallback, now: datetime) -> CallbackView:
    return CallbackView(
        callback_id=cb.id,
        seq=cb.seq,
        day=cb.day,
        due_at=cb.due_at,
        overdue_at=cb.overdue_at,
        status=callback_status(
            done_at=cb.done_at, reached=cb.reached, due_at=cb.due_at, overdue_at=cb.overdue_at, now=now
        ),
        reminded_at=cb.reminded_at,
        overdue_marked_at=cb.overdue_marked_at,
        done_at=cb.done_at,
        done_by=cb.done_by,
        reached=cb.reached,
        warning_signs=list(cb.warning_signs or []),
        note=cb.note,
    )


def record_callback(
    session: Session, rt: Runtime, actor: Actor, case_id: int, callback_id: int, body: CallbackIn
) -> FollowUps:
    """Reached or not, what was seen, a note. A warning sign reopens the case."""
    case = _readable(session, actor, case_id, HANDLERS, for_update=True)
    cb = repository.callback(session, callback_id, for_update=True)
    if cb is None or cb.case_id != case.id:
        raise NotFound(f"callback {callback_id} not found on case {case.id}")
    if cb.done_at is not None:
        raise Conflict(f"callback {cb.id} was already recorded at {cb.done_at.isoformat()}")
    not_in_policy = [s for s in body.warning_signs if s not in rt.policy.followups.warning_signs]
    if not_in_policy:
        raise ValidationFailed([FieldError("warning_signs", f"本地策略未启用：{'、'.join(not_in_policy)}")])
    now = rt.clock.now()
    cb.done_at, cb.done_by, cb.reached = now, actor.label, body.reached
    cb.warning_signs, cb.note = list(body.warning_signs), body.note
    cb.token = new_token()  # its reminder and overdue timers are now stale
    add_event(
        session,
        rt,
        case,
        "followup_recorded",
        actor,
        callback_id=cb.id,
        seq=cb.seq,
        day=cb.day,
        reached=body.reached,
        warning_signs=list(body.warning_signs),
        note=body.note,
    )
    audit.record(
        session,
        rt.clock,
        actor,
        "followup.recorded",
        "case",
        case.id,
        {"callback_id": cb.id, "reached": body.reached, "warning_signs": list(body.warning_signs)},
    )
    plan = session.get(FollowUpPlan, cb.plan_id)
    if plan is not None and plan.ended_at is None:
        session.flush()
        if all(c.done_at is not None for c in repository.callbacks_of(session, plan.id)):
            plan.ended_at = now
            add_event(session, rt, case, "followup_completed", actor, plan_id=plan.id)
    if body.warning_signs:
        signs = "、".join(WARNING_SIGN_LABELS[s] for s in body.warning_signs)
        target = _warning_sign(session, rt, actor, case, f"回访发现预警迹象：{signs}", callback_id=cb.id)
        if body.reached:
            escalation.meet_sla(session, target, "first_contact", now)  # the officer spoke with them
    broadcast_change(session, rt, case.id, case.state, _station_audience(session, rt, case))
    return follow_ups_of(session, rt, case)


def _warning_sign(
    session: Session, rt: Runtime, actor: Actor, case: Case, reason: str, **data: object
) -> Case:
    """The fraudster is back. A closed case reopens (unless the person already has another open
    case: that one is raised instead); an open one is raised and re-alerted."""
    target = case
    if case.state == CaseState.CLOSED:
        _lock_person(session, case.person_id)
        other = repository.other_open_case(session, case.person_id, case.id)
        if other is None:
            reopen(session, rt, actor, case, reason, **data)
            return case
        target = other
        add_event(
            session, rt, case, "followup_warning_elsewhere", actor, open_case_id=other.id, reason=reason
        )
    _raise_risk(session, rt, target)
    add_event(
        session, rt, target, "followup_warning", actor, reason=reason, risk_level=target.risk_level, **data
    )
    audit.record(session, rt.clock, actor, "case.followup_warning", "case", target.id, {"reason": reason})
    _realert(session, rt, target, f"回访预警：案件 #{target.id}", reason)
    return target


def _lock_person(session: Session, person_id: int) -> None:
    """The same lock intake takes on a person's identifiers: a new warning arriving now waits."""
    person = session.get(Person, person_id)
    if person is not None:
        keys = person_lock_keys(person.id_number_bidx, person.phone_bidx)
        if keys:
            advisory_lock(session, *keys)


def reopen(session: Session, rt: Runtime, actor: Actor, case: Case, reason: str, **data: object) -> None:
    """closed → in_progress through the one guard. The caller has checked that the person has no
    other open case (the database's one-open-case-per-person index holds us to it)."""
    previous_outcome = case.outcome
    case.state = advance(case.state, Action.REOPEN)
    now = rt.clock.now()
    case.reopened_at, case.closed_at, case.outcome, case.updated_at = now, None, None, now
    previous_risk = case.risk_level
    _raise_risk(session, rt, case, replan=False)
    before = escalation.restart_slas(session, rt, case, REOPEN_SLAS)
    case.escalation_token = new_token()  # whatever climb ran before the close stays stopped
    banks.watch_by_policy(session, rt, case)  # a raised risk may put the target on the watch list
    add_event(
        session,
        rt,
        case,
        "reopened",
        actor,
        reason=reason,
        previous_outcome=previous_outcome,
        previous_risk=previous_risk,
        risk_level=case.risk_level,
        sla_before=before,
        **data,
    )
    audit.record(
        session,
        rt.clock,
        actor,
        "case.reopened",
        "case",
        case.id,
        {"reason": reason, "previous_outcome": previous_outcome, "risk_level": case.risk_level},
    )
    _realert(session, rt, case, f"案件重新打开：#{case.id} {RISK_LABELS[case.risk_level]}风险", reason)


def reopen_for_new_warning(session: Session, rt: Runtime, actor: Actor, person_id: int) -> Case | None:
    """Intake, when the person has no open case: a closed case still under follow-up takes the
    new warning (one indexed query). The caller holds the person's lock and merges the signal."""
    case = repository.closed_case_under_follow_up(session, person_id)
    if case is None:
        return None
    reopen(session, rt, actor, case, "跟踪回访期间收到新预警")
    return case


def _raise_risk(session: Session, rt: Runtime, case: Case, *, replan: bool = True) -> None:
    if not rt.policy.followups.raise_risk_on_warning:
        return
    case.risk_level = raised(case.risk_level)
    case.urgency = urgency(case.risk_level, case.signal_count)
    if replan:
        escalation.plan_slas(session, rt, case)  # a raised risk tightens the open deadlines


def _station_audience(session: Session, rt: Runtime, case: Case) -> list[int]:
    """The officers on the case, the station's team on shift and its leads."""
    return cases_repo.audience(session, case, on_shift="all", at=rt.clock.now())


def _realert(session: Session, rt: Runtime, case: Case, title: str, body: str) -> None:
    person = session.get(Person, case.person_id)
    who = f"{person.name_masked} {person.phone_masked}".strip() if person else ""
    units = rt.org.get(session).with_children(case.station_id)
    announce(
        session,
        rt,
        Announcement(
            "case.reopened", case.id, title, f"案件 #{case.id}（{who}）：{body}。请立即联系当事人。"
        ),
        _station_audience(session, rt, case),
        units,
    )
    centre = org_cache.centre_staff(session, rt.roster, rt.clock.now())
    broadcast_change(session, rt, case.id, case.state, centre)


# --- due lists and timers ---------------------------------------------------------------------------


def due(
    session: Session, rt: Runtime, actor: Actor, *, within: timedelta, mine: bool = False
) -> list[DueCallback]:
    """Callbacks not yet recorded that are due within `within` (overdue ones first)."""
    now = rt.clock.now()
    officer_id = actor.id if mine and actor.kind == "user" else None
    rows = repository.due_callbacks(session, actor, now + within, officer_id=officer_id)
    persons = cases_repo.persons_by_ids(session, {c.person_id for _, c, _ in rows})
    officers = org_repo.users_by_ids(session, {p.officer_id for _, _, p in rows if p.officer_id})
    out = []
    for cb, case, plan in rows:
        person = persons.get(case.person_id)
        officer = officers.get(plan.officer_id) if plan.officer_id else None
        out.append(
            DueCallback(
                callback_id=cb.id,
                case_id=case.id,
                seq=cb.seq,
                day=cb.day,
                due_at=cb.due_at,
                overdue_at=cb.overdue_at,
                status=callback_status(
                    done_at=None, reached=None, due_at=cb.due_at, overdue_at=cb.overdue_at, now=now
                ),
                reminded=cb.reminded_at is not None,
                risk_level=case.risk_level,
                case_state=case.state,
                station_id=case.station_id,
                target=f"{person.name_masked} {person.phone_masked}".strip() if person else "",
                officer=officer.display_name if officer else None,
            )
        )
    return out


def _live_callback(session: Session, timer: Timer) -> tuple[FollowUpCallback, Case] | None:
    cb = repository.callback(session, timer.subject_id, for_update=True)
    if cb is None or cb.token != timer.token or cb.done_at is not None:
        return None
    case = session.get(Case, cb.case_id)
    return (cb, case) if case is not None else None


def _callers(session: Session, case: Case) -> list[int]:
    """Who makes the callback: the officer of the meeting, else the case's officers."""
    plan = repository.plan_of(session, case.id)
    if plan is not None and plan.officer_id is not None:
        user = org_repo.users_by_ids(session, {plan.officer_id}).get(plan.officer_id)
        if user is not None and user.active:
            return [user.id]
    return [a.user_id for a in dissuasion_repo.active_assignees(session, case.id)]


def on_remind_timer(session: Session, rt: Runtime, timer: Timer) -> str:
    live = _live_callback(session, timer)
    if live is None:
        return "stale"
    cb, case = live
    cb.reminded_at = rt.clock.now()
    due_local = _local(cb.due_at)
    announce(
        session,
        rt,
        Announcement(
            "followup.due",
            case.id,
            f"回访提醒：案件 #{case.id} 第{cb.seq}次回访",
            f"案件 #{case.id} 的第{cb.seq}次回访（第{cb.day}天）应于 {due_local} 完成。",
        ),
        _callers(session, case),
        [],
    )
    return "reminded"


def _local(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")


def on_overdue_timer(session: Session, rt: Runtime, timer: Timer) -> str:
    """Not recorded by the due day's end plus the grace: marked overdue and escalated. An open
    case (reopened, or still being handled) climbs its ladder like any SLA breach. A closed case
    has no live victim for the branch and the centre to rescue, so the station answers for it:
    the officer, the duty leader on shift and the chief are told (and the centre's review reads
    the plan as behind)."""
    live = _live_callback(session, timer)
    if live is None:
        return "stale"
    cb, case = live
    now = rt.clock.now()
    cb.overdue_marked_at = now
    reason = f"第{cb.seq}次回访逾期"
    add_event(session, rt, case, "followup_overdue", SYSTEM, callback_id=cb.id, seq=cb.seq, day=cb.day)
    audit.record(session, rt.clock, SYSTEM, "followup.overdue", "case", case.id, {"callback_id": cb.id})
    if case.state != CaseState.CLOSED:
        return "overdue, " + escalation.climb_on_breach(session, rt, case, reason)
    audience = _callers(session, case)
    if case.station_id is not None:
        audience += [
            uid for uid, pos in org_cache.on_duty(session, rt.roster, case.station_id, now) if pos == "leader"
        ]
        audience += [u.id for u in cases_repo.station_leads(session, case.station_id)]
    announce(
        session,
        rt,
        Announcement(
            "followup.overdue",
            case.id,
            f"回访逾期：案件 #{case.id} 第{cb.seq}次回访",
            f"案件 #{case.id} 的第{cb.seq}次回访（第{cb.day}天）未按时完成，请督促落实。",
        ),
        audience,
        [],
    )
    return "overdue, station told"


# --- the awakening room (反诈叫醒室) ------------------------------------------------------------------


def awakening_sessions(session: Session, rt: Runtime, actor: Actor, case_id: int) -> list[AwakeningView]:
    case = _readable(session, actor, case_id)
    return _awakening_views(session, case)


def _awakening_views(session: Session, case: Case) -> list[AwakeningView]:
    rows = repository.awakening_sessions(session, case.id)
    units = {u.id: u for u in (session.get(OrgUnit, i) for i in {r.station_id for r in rows}) if u}
    return [_awakening_view(r, units.get(r.station_id)) for r in rows]


def _awakening_view(row: AwakeningSession, station: OrgUnit | None) -> AwakeningView:
    return AwakeningView(
        session_id=row.id,
        case_id=row.case_id,
        station=station.name if station else "",
        room=row.room,
        scheduled_at=row.scheduled_at,
        planned_attendees=list(row.planned_attendees or []),
        state=row.state,
        created_by=row.created_by,
        held_at=row.held_at,
        recorded_by=row.recorded_by,
        attended=list(row.attended or []),
        materials=list(row.materials or []),
        relatives_present=list(row.relatives_present or []),
        outcome=row.outcome,
        note=row.note,
    )


def schedule_awakening(
    session: Session, rt: Runtime, actor: Actor, case_id: int, body: AwakeningIn
) -> AwakeningView:
    case = _readable(session, actor, case_id, HANDLERS, for_update=True)
    station_id = case.station_id
    if body.station:
        unit = org_repo.unit_by_code(session, body.station)
        if unit is None or unit.kind != OrgKind.STATION:
            raise ValidationFailed([FieldError("station", f"没有代码为 {body.station} 的派出所")])
        station_id = unit.id
    if station_id is None:
        raise ValidationFailed([FieldError("station", "案件尚未分流到派出所，请指定叫醒室所在派出所")])
    now = rt.clock.now()
    row = AwakeningSession(
        case_id=case.id,
        station_id=station_id,
        room=body.room,
        scheduled_at=body.at,
        planned_attendees=list(body.planned_attendees),
        state="scheduled",
        created_by=actor.label,
        created_at=now,
        note=body.note,
        attended=[],
        materials=[],
        relatives_present=[],
    )
    session.add(row)
    session.flush()
    add_event(
        session,
        rt,
        case,
        "awakening_scheduled",
        actor,
        session_id=row.id,
        room=body.room,
        at=body.at.isoformat(),
    )
    audit.record(session, rt.clock, actor, "awakening.scheduled", "case", case.id, {"session_id": row.id})
    announce(
        session,
        rt,
        Announcement(
            "awakening.scheduled",
            case.id,
            f"叫醒室安排：案件 #{case.id}",
            f"案件 #{case.id} 已安排反诈叫醒室（{body.room}），时间 {_local(body.at)}。",
        ),
        _station_audience(session, rt, case),
        [],
    )
    return _awakening_view(row, session.get(OrgUnit, station_id))


def record_awakening(
    session: Session, rt: Runtime, actor: Actor, case_id: int, session_id: int, body: AwakeningRecordIn
) -> AwakeningView:
    case = _readable(session, actor, case_id, HANDLERS, for_update=True)
    row = repository.awakening_session(session, case.id, session_id)
    if row is None:
        raise NotFound(f"awakening session {session_id} not found on case {case.id}")
    if row.state != "scheduled":
        raise Conflict(f"awakening session {row.id} is {row.state}; it was recorded already")
    now = rt.clock.now()
    row.state, row.held_at, row.recorded_by = "held", now, actor.label
    row.attended, row.materials = list(body.attended), list(body.materials)
    row.relatives_present, row.outcome = list(body.relatives_present), body.outcome
    row.note = "\n".join(n for n in (row.note, body.note) if n)
    add_event(
        session,
        rt,
        case,
        "awakening_held",
        actor,
        session_id=row.id,
        outcome=body.outcome,
        attended=len(body.attended),
        relatives_present=list(body.relatives_present),
    )
    audit.record(
        session,
        rt.clock,
        actor,
        "awakening.held",
        "case",
        case.id,
        {"session_id": row.id, "outcome": body.outcome},
    )
    broadcast_change(session, rt, case.id, case.state, _station_audience(session, rt, case))
    return _awakening_view(row, session.get(OrgUnit, row.station_id))


# --- protective actions -----------------------------------------------------------------------------


def protective_actions(session: Session, rt: Runtime, actor: Actor, case_id: int) -> ProtectiveActionsView:
    case = _readable(session, actor, case_id)
    return _protective_view(session, case)


def _protective_view(session: Session, case: Case) -> ProtectiveActionsView:
    rows = {r.code: r for r in repository.protective_actions(session, case.id)}
    items = []
    for code in ProtectiveCode:
        r = rows.get(code)
        items.append(
            ProtectiveItemView(
                code=code,
                label=PROTECTIVE_ACTION_LABELS[code],
                done=bool(r and r.done),
                done_by=r.done_by if r else None,
                done_at=r.done_at if r else None,
                note=r.note if r else "",
            )
        )
    return ProtectiveActionsView(case_id=case.id, items=items)


def set_protective_actions(
    session: Session, rt: Runtime, actor: Actor, case_id: int, body: ProtectiveActionsIn
) -> ProtectiveActionsView:
    case = _readable(session, actor, case_id, HANDLERS, for_update=True)
    codes = [i.code for i in body.items]
    if len(set(codes)) != len(codes):
        raise ValidationFailed([FieldError("items", "同一项不能出现两次")])
    rows = {r.code: r for r in repository.protective_actions(session, case.id)}
    now = rt.clock.now()
    changed: dict[str, bool] = {}
    for item in body.items:
        row = rows.get(item.code)
        if row is None:
            row = ProtectiveAction(
                case_id=case.id, code=item.code, done=False, note="", updated_by=actor.label
            )
            session.add(row)
        if row.done != item.done:
            changed[item.code] = item.done
            row.done = item.done
            row.done_by, row.done_at = (actor.label, now) if item.done else (None, None)
        if item.note != row.note:
            changed.setdefault(item.code, item.done)
            row.note = item.note
        row.updated_by, row.updated_at = actor.label, now
    session.flush()
    if changed:
        add_event(session, rt, case, "protective_actions", actor, changed=changed)
        audit.record(
            session, rt.clock, actor, "case.protective_actions", "case", case.id, {"changed": changed}
        )
        broadcast_change(session, rt, case.id, case.state, _station_audience(session, rt, case))
    return _protective_view(session, case)


# --- access -------------------------------------------------------------------------------------------


def _readable(
    session: Session, actor: Actor, case_id: int, roles: tuple[Role, ...] = (), *, for_update: bool = False
) -> Case:
    """Reads need a case reader (scoping raises 403 otherwise); moves need a handler role.
    Another station's case is a 404."""
    if roles:
        require_role(actor, *roles)
    case = cases_repo.get_readable(session, actor, case_id, for_update=for_update)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case
