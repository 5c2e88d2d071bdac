"""The centre's review of closed cases (复查), accountability notices to station chiefs, station
scorecards, and the dissuaders' training records and assessments (筛选、培训、考核).

Every closed case is queued for review in the closing transaction (`enqueue`). While queued, its
checklist is computed live from the case (`rules.checklist`); the reviewer's decision freezes
it. Failed items after the decision are findings; if there are any, the station chief gets an
accountability notice that must be acknowledged, or a reminder timer reminds the chief and tells
the branch squadron. Scorecards and assessments are computed on read through the KPI code."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import SYSTEM, Actor
from quanzu.auth.scoping import (
    REVIEWERS,
    TRAINING_WRITERS,
    people_scope,
    require_review_reader,
    require_role,
)
from quanzu.banks import repository as banks_repo
from quanzu.cases.schemas import StationRef
from quanzu.cases.timeline import add_event
from quanzu.codes import OrgKind, Role
from quanzu.dispatch.service import Announcement, announce
from quanzu.dissuasion import repository as dissuasion_repo
from quanzu.escalation import repository as escalation_repo
from quanzu.followups.service import follow_up_status
from quanzu.kit.errors import FieldError, NotFound, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case
from quanzu.models.org import OrgUnit
from quanzu.models.review import AccountabilityNotice, CaseReview, ReviewFinding, TrainingRecord
from quanzu.models.timers import Timer
from quanzu.org import cache as org_cache
from quanzu.org import repository as org_repo
from quanzu.reports import repository as reports_repo
from quanzu.reports import service as reports
from quanzu.reports.schemas import KpiQuery, Period
from quanzu.review import repository
from quanzu.review.rules import (
    CaseSnapshot,
    Item,
    NoticeAction,
    NoticeState,
    ReviewAction,
    ReviewState,
    SlaClock,
    Status,
    StepDone,
    StopRequest,
    advance_notice,
    advance_review,
    checklist,
    decide,
    item_label,
    shortfalls,
    unknown_overrides,
)
from quanzu.review.schemas import (
    AcknowledgeIn,
    Assessment,
    Assessments,
    ChecklistItemView,
    DecisionIn,
    NoticeItem,
    NoticeView,
    ReviewCounts,
    ReviewView,
    Scorecards,
    SlaCompliance,
    StationScorecard,
    TrainingIn,
    TrainingView,
)
from quanzu.timers.service import new_token, schedule

NOTICE_TIMER = "notice_reminder"
ASSESSED_ROLES = (Role.DISSUADER, Role.DUTY_LEADER, Role.CHIEF)
PEOPLE_ROLES = (Role.DISSUADER, Role.DUTY_LEADER, Role.CHIEF, Role.BRANCH, Role.CENTRE)


# --- the queue ------------------------------------------------------------------------------------


def enqueue(session: Session, rt: Runtime, case: Case) -> CaseReview:
    """A case closed: it waits for the centre's review. Called in the closing transaction. Cases
    closed before the review existed are not queued: their handling predates the checklist."""
    now = rt.clock.now()
    review = repository.queued_of_case(session, case.id)
    if review is not None:  # closed again before anyone reviewed the earlier closure
        advance_review(review.state, ReviewAction.REQUEUE)
        review.closed_at = case.closed_at or now
    else:
        review = CaseReview(
            case_id=case.id,
            station_id=case.station_id,
            state=ReviewState.QUEUED,
            closed_at=case.closed_at or now,
            queued_at=now,
            reason="",
        )
        session.add(review)
        session.flush()
    add_event(session, rt, case, "review_queued", SYSTEM, review_id=review.id)
    audit.record(session, rt.clock, SYSTEM, "review.queued", "review", review.id, {"case_id": case.id})
    return review


def snapshot(session: Session, rt: Runtime, case: Case) -> CaseSnapshot:
    return CaseSnapshot(
        risk_level=case.risk_level,
        outcome=case.outcome or "",
        closed_at=case.closed_at or rt.clock.now(),
        at_station=case.station_id is not None,  # None: the centre closed it from triage
        steps=[
            StepDone(s.kind, s.outcome, s.ended_at)
            for s in dissuasion_repo.steps(session, case.id)
            if s.kind != "feedback"
        ],
        slas=[
            SlaClock(s.kind, s.due_at, s.met_at, s.breached_at)
            for s in escalation_repo.slas(session, case.id)
        ],
        reverse_check_entries=len(dissuasion_repo.reverse_check(session, case.id)),
        follow_up=follow_up_status(session, case.id, rt.clock.now()),
        stop_payments=[
            StopRequest(s.state, s.ack_breached_at)
            for s in banks_repo.stop_payments_of_case(session, case.id)
        ],
    )


def _items(session: Session, rt: Runtime, case: Case, review: CaseReview) -> list[Item]:
    if review.checklist is not None:
        return [_load(i) for i in review.checklist]
    return checklist(rt.policy, snapshot(session, rt, case))


def _dump(item: Item) -> dict[str, Any]:
    return {
        "code": item.code,
        "label": item.label,
        "status": item.status.value,
        "explanation": item.explanation,
        "computed": item.computed.value if item.computed else None,
    }


def _load(data: dict[str, Any]) -> Item:
    computed = data.get("computed")
    return Item(
        code=str(data["code"]),
        label=str(data.get("label") or item_label(str(data["code"]))),
        status=Status(data["status"]),
        explanation=str(data.get("explanation", "")),
        computed=Status(computed) if computed else None,
    )


def _station_ref(session: Session, rt: Runtime, station_id: int | None) -> StationRef | None:
    unit = rt.org.get(session).units.get(station_id) if station_id is not None else None
    return StationRef(code=unit.code, name=unit.name) if unit else None


def _review_view(
    session: Session, rt: Runtime, case: Case, review: CaseReview, target: str, notice_id: int | None
) -> ReviewView:
    items = _items(session, rt, case, review)
    return ReviewView(
        review_id=review.id,
        case_id=case.id,
        station=_station_ref(session, rt, review.station_id),
        state=review.state,
        risk_level=case.risk_level,
        scam_type=case.scam_type,
        outcome=case.outcome,
        target=target,
        closed_at=review.closed_at,
        queued_at=review.queued_at,
        decided_at=review.decided_at,
        decided_by=review.decided_by,
        reason=review.reason,
        checklist=[
            ChecklistItemView(
                code=i.code,
                label=i.label,
                status=i.status,
                explanation=i.explanation,
                computed=i.computed,
                overridden=i.overridden,
            )
            for i in items
        ],
        failed=len(shortfalls(items)),
        notice_id=notice_id,
    )


def list_reviews(
    session: Session,
    rt: Runtime,
    actor: Actor,
    *,
    state: str | None = None,
    station: str | None = None,
    limit: int = 200,
) -> list[ReviewView]:
    """The centre sees every review; a branch its stations'; a chief the station's, read-only."""
    require_review_reader(actor)
    if state is not None and state not in ReviewState.__members__.values():
        raise ValidationFailed([FieldError("state", f"取值无效，可选：{', '.join(ReviewState)}")])
    station_id = _station_id(session, station)
    rows = repository.reviews(
        session, repository.readable_reviews(actor, state=state, station_id=station_id), limit=limit
    )
    notices = repository.notices_by_review(session, [r.id for _, r, _ in rows])
    return [_review_view(session, rt, c, r, name, notices.get(r.id)) for c, r, name in rows]


def get_review(session: Session, rt: Runtime, actor: Actor, review_id: int) -> ReviewView:
    require_review_reader(actor)
    case, review, name = _review(session, actor, review_id)
    notice = repository.notices_by_review(session, [review.id]).get(review.id)
    return _review_view(session, rt, case, review, name, notice)


def _review(
    session: Session, actor: Actor, review_id: int, *, for_update: bool = False
) -> tuple[Case, CaseReview, str]:
    row = repository.review(session, actor, review_id, for_update=for_update)
    if row is None:
        raise NotFound(f"review {review_id} not found")
    return row


def _station_id(session: Session, code: str | None) -> int | None:
    if code is None:
        return None
    unit = org_repo.unit_by_code(session, code)
    if unit is None or unit.kind != OrgKind.STATION:
        raise ValidationFailed([FieldError("station", f"未知的派出所代码：{code}")])
    return unit.id


# --- the decision ---------------------------------------------------------------------------------


def decide_review(
    session: Session, rt: Runtime, actor: Actor, review_id: int, body: DecisionIn
) -> ReviewView:
    """The reviewer confirms the computed checklist or overrides items with a reason. Failed items
    become findings and, at a station, an accountability notice to its chief."""
    require_role(actor, *REVIEWERS)
    case, review, name = _review(session, actor, review_id, for_update=True)
    action = ReviewAction.CONFIRM if body.decision == "confirm" else ReviewAction.OVERRIDE
    state = advance_review(review.state, action)
    computed = checklist(rt.policy, snapshot(session, rt, case))
    overrides = {code: Status(v) for code, v in body.overrides.items()}
    unknown = unknown_overrides(computed, overrides)
    if unknown:
        raise ValidationFailed(
            [FieldError(f"overrides.{code}", "本案的复查清单没有这一项") for code in unknown]
        )
    items = decide(computed, overrides)
    now = rt.clock.now()
    review.state, review.decided_at, review.decided_by = state, now, actor.label
    review.reason, review.checklist = body.reason, [_dump(i) for i in items]
    failed = shortfalls(items)
    for item in failed:
        session.add(
            ReviewFinding(
                review_id=review.id,
                case_id=case.id,
                station_id=review.station_id,
                item_code=item.code,
                explanation=item.explanation,
                overridden=item.overridden,
            )
        )
    changed = {i.code: i.status.value for i in items if i.overridden}
    add_event(
        session,
        rt,
        case,
        "review_decided",
        actor,
        review_id=review.id,
        decision=state.value,
        failed=[i.code for i in failed],
        overrides=changed,
        reason=body.reason,
    )
    audit.record(
        session,
        rt.clock,
        actor,
        f"review.{state.value}",
        "review",
        review.id,
        {"case_id": case.id, "failed": [i.code for i in failed], "overrides": changed, "reason": body.reason},
    )
    notice_id = None
    if failed and review.station_id is not None:
        notice_id = _issue_notice(session, rt, actor, case, review, failed).id
    session.flush()
    return _review_view(session, rt, case, review, name, notice_id)


def _chiefs(session: Session, station_id: int) -> list[int]:
    units = escalation_repo.station_and_teams(session, station_id)
    return [u.id for u in escalation_repo.users_with_role(session, Role.CHIEF, units)]


def _issue_notice(
    session: Session, rt: Runtime, actor: Actor, case: Case, review: CaseReview, failed: list[Item]
) -> AccountabilityNotice:
    assert review.station_id is not None  # noqa: S101 - the caller checked
    now = rt.clock.now()
    summary = "\n".join(f"{i.label}：{i.explanation}" for i in failed)
    notice = AccountabilityNotice(
        review_id=review.id,
        case_id=case.id,
        station_id=review.station_id,
        state=NoticeState.ISSUED,
        items=[i.code for i in failed],
        summary=summary,
        issued_at=now,
        issued_by=actor.label,
        ack_due_at=now + rt.policy.review.notice_ack,
        reminder_token=new_token(),
        reminders=0,
        response="",
    )
    session.add(notice)
    session.flush()
    schedule(session, NOTICE_TIMER, notice.id, notice.ack_due_at, notice.reminder_token)
    add_event(session, rt, case, "notice_issued", actor, notice_id=notice.id, items=notice.items)
    audit.record(
        session,
        rt.clock,
        actor,
        "notice.issued",
        "notice",
        notice.id,
        {"case_id": case.id, "items": notice.items},
    )
    title = f"问责通知：案件 #{case.id} 复查发现 {len(failed)} 项不足"
    announce(
        session,
        rt,
        Announcement("review.notice", case.id, title, summary + "\n请所长签收并说明整改措施。"),
        _chiefs(session, review.station_id),
        [],
    )
    return notice


# --- accountability notices -------------------------------------------------------------------------


def _notice_view(session: Session, rt: Runtime, notice: AccountabilityNotice) -> NoticeView:
    station = _station_ref(session, rt, notice.station_id)
    return NoticeView(
        notice_id=notice.id,
        review_id=notice.review_id,
        case_id=notice.case_id,
        station=station or StationRef(code="", name=""),
        state=notice.state,
        items=[NoticeItem(code=c, label=item_label(c)) for c in notice.items],
        summary=notice.summary,
        issued_at=notice.issued_at,
        issued_by=notice.issued_by,
        ack_due_at=notice.ack_due_at,
        reminders=notice.reminders,
        acknowledged_at=notice.acknowledged_at,
        acknowledged_by=notice.acknowledged_by,
        response=notice.response,
    )


def list_notices(
    session: Session, rt: Runtime, actor: Actor, *, state: str | None = None
) -> list[NoticeView]:
    require_review_reader(actor)
    if state is not None and state not in NoticeState.__members__.values():
        raise ValidationFailed([FieldError("state", f"取值无效，可选：{', '.join(NoticeState)}")])
    rows = repository.notices(session, repository.readable_notices(actor, state=state))
    return [_notice_view(session, rt, n) for n in rows]


def acknowledge_notice(
    session: Session, rt: Runtime, actor: Actor, notice_id: int, body: AcknowledgeIn
) -> NoticeView:
    """The station chief answers the notice: the reminders stop (the token rotates)."""
    require_role(actor, Role.CHIEF)
    notice = repository.notice(session, notice_id, actor=actor, for_update=True)
    if notice is None:
        raise NotFound(f"notice {notice_id} not found")
    notice.state = advance_notice(notice.state, NoticeAction.ACKNOWLEDGE)
    now = rt.clock.now()
    notice.acknowledged_at, notice.acknowledged_by, notice.response = now, actor.label, body.response
    notice.reminder_token = new_token()  # a pending reminder is now stale
    case = _case(session, notice.case_id)
    add_event(session, rt, case, "notice_acknowledged", actor, notice_id=notice.id, response=body.response)
    audit.record(session, rt.clock, actor, "notice.acknowledged", "notice", notice.id, {"case_id": case.id})
    announce(
        session,
        rt,
        Announcement(
            "review.notice_acknowledged", case.id, f"问责通知已签收：案件 #{case.id}", body.response
        ),
        org_cache.centre_staff(session, rt.roster, rt.clock.now()),
        [],
    )
    return _notice_view(session, rt, notice)


def on_notice_timer(session: Session, rt: Runtime, timer: Timer) -> str:
    """Not acknowledged in time: remind the chief, tell the branch squadron, and look again after
    `review.notice_remind_every`."""
    notice = repository.notice(session, timer.subject_id, for_update=True)
    if notice is None or notice.reminder_token != timer.token or notice.state != NoticeState.ISSUED:
        return "stale"
    advance_notice(notice.state, NoticeAction.REMIND)
    now = rt.clock.now()
    notice.reminders += 1
    notice.last_reminded_at = now
    case = _case(session, notice.case_id)
    station = session.get(OrgUnit, notice.station_id)
    branch_ids = [station.parent_id] if station and station.parent_id else []
    branch_users = [u.id for u in escalation_repo.users_with_role(session, Role.BRANCH, branch_ids)]
    title = f"问责通知未签收（第{notice.reminders}次提醒）：案件 #{case.id}"
    body = f"{station.name if station else ''}所长尚未签收案件 #{case.id} 的问责通知。\n{notice.summary}"
    announce(
        session,
        rt,
        Announcement("review.notice_overdue", case.id, title, body),
        _chiefs(session, notice.station_id) + branch_users,
        branch_ids,
    )
    add_event(session, rt, case, "notice_overdue", SYSTEM, notice_id=notice.id, reminders=notice.reminders)
    audit.record(
        session, rt.clock, SYSTEM, "notice.overdue", "notice", notice.id, {"reminders": notice.reminders}
    )
    schedule(
        session, NOTICE_TIMER, notice.id, now + rt.policy.review.notice_remind_every, notice.reminder_token
    )
    return "reminded"


def _case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:  # referenced by foreign key: only a broken database gets here
        raise NotFound(f"case {case_id} not found")
    return case


# --- scorecards -----------------------------------------------------------------------------------------


def _stations_in_scope(session: Session, actor: Actor, code: str | None) -> list[OrgUnit]:
    scope = require_review_reader(actor)
    stations = org_repo.stations(session)
    if code is not None:
        wanted = _station_id(session, code)
        stations = [s for s in stations if s.id == wanted]
    if scope.all_stations:
        return stations
    if scope.branch_id is not None:
        return [s for s in stations if s.parent_id == scope.branch_id]
    return [s for s in stations if s.id == scope.station_id]


def scorecards(session: Session, rt: Runtime, actor: Actor, query: KpiQuery) -> Scorecards:
    """Per station, over the KPI cohort (cases opened in the period, as they stand now): SLA
    compliance and first-meeting success from the KPI implementation, follow-up completion
    likewise (callbacks due in the period made in time), and what the reviews found."""
    start, end = reports.resolve_period(query, rt.clock.now())
    stations = _stations_in_scope(session, actor, query.station)
    cohort = reports_repo.cohort(actor, start, end, station_id=None, scam_type=query.scam_type)
    reviews = repository.review_counts(session, cohort)
    findings = repository.finding_counts(session, cohort)
    notices = repository.notice_counts(session, cohort)
    cards = []
    for station in stations:
        kpi = reports.kpis(
            session, rt, actor, KpiQuery(from_=start, to=end, station=station.code, scam_type=query.scam_type)
        )
        compliance = {
            kind: SlaCompliance(
                met=b.counted - b.breached,
                counted=b.counted,
                rate=reports.rate(b.counted - b.breached, b.counted),
            )
            for kind, b in kpi.sla_breach_rate.items()
        }
        met = sum(c.met for c in compliance.values())
        counted = sum(c.counted for c in compliance.values())
        cards.append(
            StationScorecard(
                code=station.code,
                name=station.name,
                cases=kpi.cases,
                closed=kpi.cases - kpi.open_cases,
                sla_compliance=compliance,
                sla_compliance_rate=reports.rate(met, counted),
                first_meeting_success_rate=kpi.first_meeting_success_rate,
                follow_up_completion_rate=kpi.follow_up_completion_rate,
                reviews=ReviewCounts(**{st: n for (sid, st), n in reviews.items() if sid == station.id}),
                findings={code: n for (sid, code), n in sorted(findings.items()) if sid == station.id},
                notices_issued=sum(n for (sid, _), n in notices.items() if sid == station.id),
                notices_acknowledged=notices.get((station.id, NoticeState.ACKNOWLEDGED), 0),
            )
        )
    return Scorecards(period=Period(start=start, end=end), stations=cards)


# --- training and assessments ---------------------------------------------------------------------------


def _training_view(record: TrainingRecord, username: str, display_name: str) -> TrainingView:
    return TrainingView(
        training_id=record.id,
        username=username,
        display_name=display_name,
        course=record.course,
        taken_on=record.taken_on,
        result=record.result,
        score=record.score,
        note=record.note,
        recorded_by=record.recorded_by,
        recorded_at=record.recorded_at,
    )


def add_training(session: Session, rt: Runtime, actor: Actor, body: TrainingIn) -> TrainingView:
    """The centre records anyone's training; a chief the station's people's."""
    require_role(actor, *TRAINING_WRITERS)
    people = {u.username: u for u, _ in repository.people(session, people_scope(actor), roles=PEOPLE_ROLES)}
    user = people.get(body.user)
    if user is None:
        raise ValidationFailed([FieldError("user", f"{body.user} 不是你可以登记培训的人员")])
    record = TrainingRecord(
        user_id=user.id,
        course=body.course,
        taken_on=body.taken_on,
        result=body.result,
        score=body.score,
        note=body.note,
        recorded_by=actor.label,
        recorded_at=rt.clock.now(),
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        rt.clock,
        actor,
        "training.recorded",
        "user",
        user.id,
        {"training_id": record.id, "course": body.course, "result": body.result, "score": body.score},
    )
    return _training_view(record, user.username, user.display_name)


def list_training(
    session: Session, rt: Runtime, actor: Actor, *, user: str | None = None
) -> list[TrainingView]:
    people = {u.id: u for u, _ in repository.people(session, people_scope(actor), roles=PEOPLE_ROLES)}
    if user is not None:
        people = {i: u for i, u in people.items() if u.username == user}
    return [
        _training_view(r, people[r.user_id].username, people[r.user_id].display_name)
        for r in repository.training_of(session, list(people))
    ]


def assessments(session: Session, rt: Runtime, actor: Actor, query: KpiQuery) -> Assessments:
    """考核 per person over the period, from their own cases (those they were on) with the KPI
    definitions: cases, closed, dissuaded share, SLA clocks met on time, review findings; and
    their training."""
    now = rt.clock.now()
    start, end = reports.resolve_period(query, now)
    station_id = _station_id(session, query.station)
    people = repository.people(session, people_scope(actor), roles=ASSESSED_ROLES)
    if station_id is not None:
        people = [(u, o) for u, o in people if station_id in (o.id, o.parent_id)]
    trainings: dict[int, list[TrainingRecord]] = {}
    for record in repository.training_of(session, [u.id for u, _ in people]):
        trainings.setdefault(record.user_id, []).append(record)
    base = reports_repo.cohort(actor, start, end, station_id=None, scam_type=None)
    out = []
    for user, unit in people:
        mine = repository.handled_by(base, user.id)
        totals = reports_repo.totals(session, mine)
        slas = reports_repo.sla_counts(session, mine, now)
        counted = sum(c.counted for c in slas)
        met = counted - sum(c.breached for c in slas)
        closed = totals.cases - totals.open_cases
        records = trainings.get(user.id, [])
        out.append(
            Assessment(
                username=user.username,
                display_name=user.display_name,
                role=user.role,
                unit=unit.name,
                cases=totals.cases,
                closed=closed,
                dissuaded=totals.dissuaded,
                dissuaded_rate=reports.rate(totals.dissuaded, closed),
                sla_met=met,
                sla_counted=counted,
                sla_met_rate=reports.rate(met, counted),
                review_findings=repository.findings_total(session, mine),
                trainings=len(records),
                trainings_passed=sum(1 for r in records if r.result == "pass" or (r.score or 0) >= 60),
                last_training=records[0].taken_on if records else None,
            )
        )
    return Assessments(period=Period(start=start, end=end), people=out)
