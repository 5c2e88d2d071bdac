"""SLA clocks, the three-tier escalation ladder, and shift handover.

A breached SLA starts a climb: the ladder (who at each rung, how long each rung has) is resolved
and frozen on the case, so later roster or policy edits do not change a running climb. Each
rung is a timer; acknowledging rotates the case's escalation token, which makes every pending
rung timer stale."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import SYSTEM, Actor
from quanzu.cases.timeline import add_event
from quanzu.codes import RISK_LABELS, SCAM_TYPE_LABELS, CaseState, RiskLevel, Role
from quanzu.dispatch.service import Announcement, announce
from quanzu.escalation import repository
from quanzu.kit.db import insert_rows
from quanzu.kit.errors import Conflict, Forbidden
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case, CaseAssignee, CaseSla
from quanzu.models.org import OrgUnit
from quanzu.models.timers import Timer
from quanzu.org import cache as org_cache
from quanzu.org import repository as org_repo
from quanzu.timers import repository as timers_repo
from quanzu.timers.service import TimerRow, new_token, schedule, schedule_many

CLIMBING, AT_TOP, ACKNOWLEDGED = "climbing", "at_top", "acknowledged"
SLA_LABELS = {"sign": "签收", "first_contact": "首次联系", "face_to_face": "会面宣防", "feedback": "平台反馈"}
# Who may acknowledge at each tier (the tier's own level or above).
ACK_ROLES = {
    1: {Role.DUTY_LEADER, Role.CHIEF, Role.BRANCH, Role.CENTRE},
    2: {Role.BRANCH, Role.CENTRE},
    3: {Role.CENTRE},
}
ESCALATE_ROLES = (Role.DISSUADER, Role.DUTY_LEADER, Role.CHIEF, Role.BRANCH, Role.CENTRE)


# --- SLA clocks -------------------------------------------------------------------------------------


def plan_slas(
    session: Session, rt: Runtime, case: Case, *, new: bool = False, also: Sequence[TimerRow] = ()
) -> None:
    """Creates the case's SLA clocks from the policy; when the risk rises, tightens the open ones
    (new token: the old timers become stale). `new`: the case has no clocks yet; `also`: other
    timers of the new case's transaction, inserted with its clocks' (e.g. contact linking)."""
    deadlines = rt.policy.sla[RiskLevel(case.risk_level)].items()
    if new:  # the hot path of every new warning: two multi-row inserts, no unit-of-work pass
        clocks = [(kind, case.opened_at + allowed, new_token()) for kind, allowed in deadlines]
        rows = [{"case_id": case.id, "kind": k, "due_at": due, "token": tok} for k, due, tok in clocks]
        insert_rows(session, CaseSla, rows)
        schedule_many(session, [*(("sla", case.id, due, tok, k) for k, due, tok in clocks), *also])
        return
    schedule_many(session, also)
    existing = {s.kind: s for s in repository.slas(session, case.id)}
    base = case.reopened_at or case.opened_at  # a reopened case's clocks run from the reopening
    for kind, allowed in deadlines:
        due = base + allowed
        sla = existing.get(kind)
        if sla is None:
            sla = CaseSla(case_id=case.id, kind=kind, due_at=due, token=new_token())
            session.add(sla)
        elif sla.met_at is None and sla.breached_at is None and due < sla.due_at:
            sla.due_at, sla.token = due, new_token()
        else:
            continue
        schedule(session, "sla", case.id, sla.due_at, sla.token, key=kind)


def restart_slas(session: Session, rt: Runtime, case: Case, kinds: tuple[str, ...]) -> dict[str, str]:
    """A reopened case: the named clocks run again from `case.reopened_at` (new tokens, so the
    old timers are stale). Returns each restarted clock's previous state for the timeline."""
    base = case.reopened_at or rt.clock.now()
    existing = {s.kind: s for s in repository.slas(session, case.id)}
    before: dict[str, str] = {}
    for kind, allowed in rt.policy.sla[RiskLevel(case.risk_level)].items():
        if kind not in kinds:
            continue
        sla = existing.get(kind)
        if sla is None:
            sla = CaseSla(case_id=case.id, kind=kind, due_at=base + allowed, token=new_token())
            session.add(sla)
            before[kind] = "none"
        else:
            before[kind] = "breached" if sla.breached_at else "met" if sla.met_at else "pending"
            sla.due_at, sla.met_at, sla.breached_at, sla.token = base + allowed, None, None, new_token()
        schedule(session, "sla", case.id, sla.due_at, sla.token, key=kind)
    return before


def meet_sla(session: Session, case: Case, kind: str, at: datetime) -> None:
    sla = repository.sla(session, case.id, kind)
    if sla is not None and sla.met_at is None:
        sla.met_at = at


def on_sla_timer(session: Session, rt: Runtime, timer: Timer) -> str:
    sla = repository.sla(session, timer.subject_id, timer.key)
    case = session.get(Case, timer.subject_id)
    if sla is None or case is None or sla.token != timer.token or sla.met_at or sla.breached_at:
        return "stale"
    if case.state == CaseState.CLOSED:
        return "stale"
    sla.breached_at = rt.clock.now()
    add_event(session, rt, case, "sla_breached", SYSTEM, sla=sla.kind, due_at=sla.due_at.isoformat())
    audit.record(session, rt.clock, SYSTEM, "sla.breached", "case", case.id, {"sla": sla.kind})
    return climb_on_breach(session, rt, case, f"{SLA_LABELS.get(sla.kind, sla.kind)}超时")


def climb_on_breach(session: Session, rt: Runtime, case: Case, reason: str) -> str:
    """A missed deadline (a step's SLA, a bank's stop-payment acknowledgement) starts the climb
    unless the case is already on the ladder."""
    if (case.escalation or {}).get("state") in (CLIMBING, AT_TOP):
        return "breached (already escalating)"
    start_climb(session, rt, case, reason, from_tier=1, actor=SYSTEM)
    return "breached"


# --- the ladder -----------------------------------------------------------------------------------


def freeze_ladder(session: Session, rt: Runtime, case: Case) -> list[dict[str, Any]]:
    """Resolves every rung of the policy ladder to people and channel units, now."""
    rungs = []
    for rung in rt.policy.escalation.ladder:
        user_ids, unit_ids = _rung_recipients(session, rt, case, rung.notify)
        if user_ids or unit_ids:
            rungs.append(
                {"tier": rung.tier, "notify": rung.notify, "user_ids": user_ids, "unit_ids": unit_ids}
            )
    return rungs


def _rung_recipients(session: Session, rt: Runtime, case: Case, notify: str) -> tuple[list[int], list[int]]:
    station_units = repository.station_and_teams(session, case.station_id) if case.station_id else []
    chiefs = [u.id for u in repository.users_with_role(session, Role.CHIEF, station_units)]
    if notify == "duty_leader" and case.station_id:
        on_duty = [
            user_id
            for user_id, pos in org_cache.on_duty(session, rt.roster, case.station_id, rt.clock.now())
            if pos == "leader"
        ]
        leaders = on_duty or [
            u.id for u in repository.users_with_role(session, Role.DUTY_LEADER, station_units)
        ]
        return leaders, station_units
    if notify == "chief" and case.station_id:
        return chiefs, []
    if notify == "branch" and case.station_id:
        station = session.get(OrgUnit, case.station_id)
        branch_ids = [station.parent_id] if station and station.parent_id else []
        return [u.id for u in repository.users_with_role(session, Role.BRANCH, branch_ids)], branch_ids
    if notify == "centre":
        centre = org_repo.centre(session)
        centre_ids = [centre.id] if centre else []
        # Tier 3 also tells the station chief: the chief answers for the station's results.
        return [
            u.id for u in repository.users_with_role(session, Role.CENTRE, centre_ids)
        ] + chiefs, centre_ids
    return [], []


def start_climb(
    session: Session, rt: Runtime, case: Case, reason: str, *, from_tier: int, actor: Actor
) -> None:
    rungs = freeze_ladder(session, rt, case)
    start = next((i for i, r in enumerate(rungs) if r["tier"] >= from_tier), len(rungs) - 1)
    if not rungs:
        add_event(session, rt, case, "escalation_impossible", actor, reason=reason)
        return
    wait = rt.policy.escalation.wait[RiskLevel(case.risk_level)]
    case.escalation = {
        "state": CLIMBING,
        "reason": reason,
        "started_at": rt.clock.now().isoformat(),
        "started_by": actor.label,
        "wait_s": wait.total_seconds(),
        "rungs": rungs,
    }
    case.escalation_token = new_token()
    _climb(session, rt, case, start, reason)


def _climb(session: Session, rt: Runtime, case: Case, index: int, reason: str) -> None:
    plan = dict(case.escalation or {})
    rungs: list[dict[str, Any]] = plan["rungs"]
    rung = rungs[index]
    case.tier = max(case.tier, int(rung["tier"]))
    case.updated_at = rt.clock.now()
    add_event(session, rt, case, "escalated", SYSTEM, tier=rung["tier"], notify=rung["notify"], reason=reason)
    audit.record(
        session, rt.clock, SYSTEM, "case.tier_raised", "case", case.id, {"tier": rung["tier"], "rung": index}
    )
    announce(session, rt, _announcement(case, rung, reason), rung["user_ids"], rung["unit_ids"])
    if index + 1 < len(rungs):
        due = rt.clock.now() + _wait(plan)
        schedule(session, "escalation", case.id, due, case.escalation_token or "", key=str(index + 1))
        plan.update(state=CLIMBING, rung=index)
    else:
        plan.update(state=AT_TOP, rung=index)
    case.escalation = plan  # a new dict, so the JSON column sees the change


def _wait(plan: dict[str, Any]) -> timedelta:
    return timedelta(seconds=float(plan["wait_s"]))


def _announcement(case: Case, rung: dict[str, Any], reason: str) -> Announcement:
    scam = SCAM_TYPE_LABELS.get(case.scam_type, case.scam_type)
    return Announcement(
        event="case.escalated",
        case_id=case.id,
        title=f"预警升级（第{rung['tier']}级）：案件 #{case.id} {RISK_LABELS[case.risk_level]}风险 {scam}",
        body=f"案件 #{case.id} 因“{reason}”升级至第{rung['tier']}级，请立即处置并确认。",
    )


def on_climb_timer(session: Session, rt: Runtime, timer: Timer) -> str:
    case = session.get(Case, timer.subject_id)
    if case is None or case.escalation_token != timer.token or case.state == CaseState.CLOSED:
        return "stale"
    if (case.escalation or {}).get("state") != CLIMBING:
        return "stale"
    _climb(session, rt, case, int(timer.key), str((case.escalation or {}).get("reason", "")) + "（未确认）")
    return "climbed"


def acknowledge(session: Session, rt: Runtime, actor: Actor, case: Case) -> None:
    plan = dict(case.escalation or {})
    if plan.get("state") not in (CLIMBING, AT_TOP):
        raise Conflict(f"case {case.id} has no escalation waiting to be acknowledged")
    if actor.role not in ACK_ROLES[case.tier]:
        raise Forbidden(f"a {actor.role} cannot acknowledge a tier {case.tier} escalation")
    now = rt.clock.now()
    plan.update(state=ACKNOWLEDGED, acknowledged_by=actor.label, acknowledged_at=now.isoformat())
    case.escalation = plan
    case.escalation_token = new_token()  # pending rung timers are now stale
    case.updated_at = now
    add_event(session, rt, case, "escalation_acknowledged", actor, tier=case.tier)
    audit.record(
        session, rt.clock, actor, "case.escalation_acknowledged", "case", case.id, {"tier": case.tier}
    )


def escalate_manually(session: Session, rt: Runtime, actor: Actor, case: Case, reason: str) -> None:
    """A hard case (deeply deceived, refuses, very large amount) goes up a tier at once."""
    if actor.role not in ESCALATE_ROLES:
        raise Forbidden(f"a {actor.role} cannot escalate cases")
    target = min(case.tier + 1, 3)
    plan = case.escalation or {}
    add_event(session, rt, case, "escalation_requested", actor, reason=reason, to_tier=target)
    audit.record(
        session, rt.clock, actor, "case.escalated", "case", case.id, {"to_tier": target, "reason": reason}
    )
    if plan.get("state") == CLIMBING:
        rungs = plan["rungs"]
        index = next((i for i, r in enumerate(rungs) if r["tier"] >= target), len(rungs) - 1)
        case.escalation_token = new_token()  # the pending rung timer is superseded
        _climb(session, rt, case, index, reason)
    else:
        start_climb(session, rt, case, reason, from_tier=target, actor=actor)


def stop_on_close(case: Case) -> None:
    if (case.escalation or {}).get("state") in (CLIMBING, AT_TOP):
        case.escalation = {**(case.escalation or {}), "state": "closed"}
    case.escalation_token = new_token()


# --- shift handover -----------------------------------------------------------------------------------


def schedule_shift_end(session: Session, station_id: int, ends_at: datetime) -> None:
    if not timers_repo.exists(session, "handover", station_id, "shift-end", ends_at):
        schedule(session, "handover", station_id, ends_at, "roster", key="shift-end")


def on_shift_end(session: Session, rt: Runtime, timer: Timer) -> str:
    """Assignees who are off duty now hand their open cases to the people on duty; a case left
    with nobody on duty goes to the incoming duty leader, with a handover note."""
    now = rt.clock.now()
    on_duty = org_cache.on_duty(session, rt.roster, timer.subject_id, now)
    on_duty_ids = {user_id for user_id, _ in on_duty}
    leaders = [user_id for user_id, pos in on_duty if pos == "leader"]
    handed = 0
    # Three queries whatever the number of open cases: a busy station's shift change is the
    # worker's largest single job.
    cases = repository.open_cases_at(session, timer.subject_id)
    active_of = repository.active_assignees_at(session, timer.subject_id)
    users = org_repo.users_by_ids(session, {*leaders[:1], *(a.user_id for a in chain(*active_of.values()))})
    for case in cases:
        active = active_of.get(case.id, [])
        leaving = [a for a in active if a.user_id not in on_duty_ids]
        for a in leaving:
            a.released_at = now
        if not leaving or len(leaving) < len(active) or not leaders:
            continue
        handed += 1
        leader = leaders[0]
        session.add(CaseAssignee(case_id=case.id, user_id=leader, position="leader", assigned_at=now))
        left = [a.user_id for a in leaving]
        names = "、".join(users[i].display_name for i in left if i in users)
        leader_name = users[leader].display_name
        note = f"交接班：{names} 已下班，案件由值班所领导 {leader_name} 接手；当前状态：{case.state}"
        add_event(session, rt, case, "handover", SYSTEM, from_user_ids=left, to_user_id=leader, note=note)
        audit.record(session, rt.clock, SYSTEM, "case.handed_over", "case", case.id, {"to_user_id": leader})
        announce(
            session, rt, Announcement("case.handover", case.id, f"交接案件 #{case.id}", note), [leader], []
        )
    return f"handed over {handed}"
