"""The review checklist (复查清单) and the two state machines of the review, as pure functions.

The checklist is computed from a snapshot of the closed case and the policy: no I/O, so it is
unit-tested exhaustively and the review page, the API and the exports agree. Each item has a
code, a Chinese label, a status (passed / failed / not_applicable) and an explanation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from quanzu.codes import SLA_LABELS, RiskLevel
from quanzu.kit.errors import Conflict
from quanzu.policy.schemas import Policy

# --- the state machines ---------------------------------------------------------------------------


class ReviewState(StrEnum):
    QUEUED = "queued"  # the case closed; waiting for the centre
    CONFIRMED = "confirmed"  # the reviewer accepted the computed checklist
    OVERRIDDEN = "overridden"  # the reviewer changed items, with a reason


class NoticeState(StrEnum):
    ISSUED = "issued"  # sent to the station chief
    ACKNOWLEDGED = "acknowledged"  # the chief answered


class ReviewAction(StrEnum):
    CONFIRM = "confirm"
    OVERRIDE = "override"
    REQUEUE = "requeue"  # the case was reopened and closed again before the review


class NoticeAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    REMIND = "remind"


REVIEW_TRANSITIONS: dict[tuple[ReviewState, ReviewAction], ReviewState] = {
    (ReviewState.QUEUED, ReviewAction.CONFIRM): ReviewState.CONFIRMED,
    (ReviewState.QUEUED, ReviewAction.OVERRIDE): ReviewState.OVERRIDDEN,
    (ReviewState.QUEUED, ReviewAction.REQUEUE): ReviewState.QUEUED,
}
NOTICE_TRANSITIONS: dict[tuple[NoticeState, NoticeAction], NoticeState] = {
    (NoticeState.ISSUED, NoticeAction.ACKNOWLEDGE): NoticeState.ACKNOWLEDGED,
    (NoticeState.ISSUED, NoticeAction.REMIND): NoticeState.ISSUED,
}
REVIEW_STATE_LABELS = {"queued": "待复查", "confirmed": "已确认", "overridden": "已改判"}
NOTICE_STATE_LABELS = {"issued": "待签收", "acknowledged": "已签收"}


def advance_review(state: str, action: ReviewAction) -> ReviewState:
    """The next state, or a 409 that names the current one."""
    current = ReviewState(state)
    nxt = REVIEW_TRANSITIONS.get((current, action))
    if nxt is None:
        raise Conflict(f"cannot {action} a review that is {current} ({REVIEW_STATE_LABELS[current]})")
    return nxt


def advance_notice(state: str, action: NoticeAction) -> NoticeState:
    current = NoticeState(state)
    nxt = NOTICE_TRANSITIONS.get((current, action))
    if nxt is None:
        raise Conflict(f"cannot {action} a notice that is {current} ({NOTICE_STATE_LABELS[current]})")
    return nxt


# --- the checklist --------------------------------------------------------------------------------


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"


STATUS_LABELS = {"passed": "合格", "failed": "不合格", "not_applicable": "不适用"}
STEP_LABELS = {
    "sign": "签收",
    "phone": "电话劝阻",
    "analysis": "研判",
    "onsite_search": "上门寻找",
    "verify_identity": "核实身份",
    "face_to_face": "会面宣防",
    "feedback": "平台反馈",
}
FIXED_ITEM_LABELS = {
    "dissuaded_recorded": "劝阻成功有记录",
    "reverse_check": "倒查清单已填写",
    "follow_up": "回访计划按期执行",
    "stop_payment": "紧急止付银行按时确认",
}


def item_label(code: str) -> str:
    """The Chinese label of any item code (`step:phone`, `sla:sign`, `reverse_check` …)."""
    kind, _, arg = code.partition(":")
    if kind == "step":
        return f"规定动作：{STEP_LABELS.get(arg, arg)}"
    if kind == "sla":
        return f"按时完成：{SLA_LABELS.get(arg, arg)}"
    return FIXED_ITEM_LABELS.get(code, code)


def all_item_labels() -> dict[str, str]:
    """Every item code Quanzu can produce, with its label (pages, exports, the catalogue)."""
    codes = [f"step:{k}" for k in STEP_LABELS] + [f"sla:{k}" for k in SLA_LABELS] + list(FIXED_ITEM_LABELS)
    return {c: item_label(c) for c in codes}


@dataclass(frozen=True, slots=True)
class StepDone:
    kind: str
    outcome: str | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class SlaClock:
    kind: str
    due_at: datetime
    met_at: datetime | None
    breached_at: datetime | None


@dataclass(frozen=True, slots=True)
class StopRequest:
    state: str
    ack_breached_at: datetime | None


@dataclass(frozen=True, slots=True)
class CaseSnapshot:
    """What the checklist reads of a closed case. `at_station`: False for a false alarm the
    centre closed from triage (no steps were required)."""

    risk_level: str
    outcome: str
    closed_at: datetime
    at_station: bool
    steps: Sequence[StepDone]
    slas: Sequence[SlaClock]
    reverse_check_entries: int
    follow_up: str | None  # None: no plan; "on_track"; "behind"
    stop_payments: Sequence[StopRequest] = ()


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    label: str
    status: Status
    explanation: str
    computed: Status | None = None  # what Quanzu computed, when a reviewer overrode it

    @property
    def overridden(self) -> bool:
        return self.computed is not None and self.computed != self.status


def _at(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


def checklist(policy: Policy, case: CaseSnapshot) -> list[Item]:
    """Every item of the review of one closed case, in a stable order."""
    return [
        *_step_items(policy, case),
        *_sla_items(case),
        _reverse_check_item(policy, case),
        _follow_up_item(case),
        _stop_payment_item(case),
    ]


def _item(code: str, status: Status, explanation: str) -> Item:
    return Item(code, item_label(code), status, explanation)


def _step_items(policy: Policy, case: CaseSnapshot) -> list[Item]:
    if not case.at_station:
        return [_item("step:sign", Status.NOT_APPLICABLE, "反诈中心在分流阶段作为非诈骗结案，无规定动作要求")]
    required = policy.close_rules[RiskLevel(case.risk_level)].get(case.outcome, ())
    done = [s for s in case.steps if s.ended_at is not None]
    items = []
    for kind in required:
        ended = [s.ended_at for s in done if s.kind == kind and s.ended_at is not None]
        if ended:
            items.append(_item(f"step:{kind}", Status.PASSED, f"已完成（{_at(min(ended))}）"))
        else:
            started = any(s.kind == kind for s in case.steps)
            why = "已开始但未完成" if started else "未做"
            items.append(
                _item(
                    f"step:{kind}",
                    Status.FAILED,
                    f"{case.risk_level} 风险以 {case.outcome} 结案须做此步：{why}",
                )
            )
    if case.outcome == "dissuaded":
        if any(s.outcome == "dissuaded" for s in done):
            items.append(_item("dissuaded_recorded", Status.PASSED, "电话或会面记录为劝阻成功"))
        else:
            items.append(
                _item("dissuaded_recorded", Status.FAILED, "以劝阻成功结案，但没有电话或会面记录为劝阻成功")
            )
    return items


def _sla_items(case: CaseSnapshot) -> list[Item]:
    """Each clock met on time passes; met late or breached fails; a clock that never fell due
    while the case was open (closed before its deadline without it) does not apply."""
    items = []
    for clock in sorted(case.slas, key=lambda c: (c.due_at, c.kind)):
        code = f"sla:{clock.kind}"
        due = f"时限 {_at(clock.due_at)}"
        if clock.met_at is not None and clock.met_at <= clock.due_at:
            items.append(_item(code, Status.PASSED, f"{due}，完成于 {_at(clock.met_at)}"))
        elif clock.met_at is not None:
            late = int((clock.met_at - clock.due_at).total_seconds() // 60)
            items.append(_item(code, Status.FAILED, f"{due}，完成于 {_at(clock.met_at)}（超时 {late} 分钟）"))
        elif clock.breached_at is not None or clock.due_at <= case.closed_at:
            items.append(_item(code, Status.FAILED, f"{due}，结案前未完成"))
        else:
            items.append(_item(code, Status.NOT_APPLICABLE, f"{due}，结案时尚未到期"))
    return items


def _reverse_check_item(policy: Policy, case: CaseSnapshot) -> Item:
    n = case.reverse_check_entries
    if case.outcome not in policy.reverse_check_required:
        return _item(
            "reverse_check", Status.NOT_APPLICABLE, f"以 {case.outcome} 结案不要求倒查清单（已填 {n} 项）"
        )
    if n > 0:
        return _item("reverse_check", Status.PASSED, f"已填写 {n} 项")
    return _item("reverse_check", Status.FAILED, f"以 {case.outcome} 结案须填写倒查清单，未填写")


def _follow_up_item(case: CaseSnapshot) -> Item:
    if case.follow_up is None:
        return _item("follow_up", Status.NOT_APPLICABLE, "本案没有回访计划")
    if case.follow_up == "on_track":
        return _item("follow_up", Status.PASSED, "回访按计划进行")
    return _item("follow_up", Status.FAILED, "回访落后于计划")


def _stop_payment_item(case: CaseSnapshot) -> Item:
    """Optional: only cases with an emergency stop-payment request have this item."""
    if not case.stop_payments:
        return _item("stop_payment", Status.NOT_APPLICABLE, "本案没有紧急止付请求")
    late = sum(1 for s in case.stop_payments if s.ack_breached_at is not None)
    if late:
        return _item("stop_payment", Status.FAILED, f"{late} 个止付请求银行未按时确认")
    return _item("stop_payment", Status.PASSED, f"{len(case.stop_payments)} 个止付请求均按时确认")


# --- the reviewer's decision ----------------------------------------------------------------------


def decide(items: Sequence[Item], overrides: Mapping[str, Status]) -> list[Item]:
    """The checklist after the reviewer's overrides (item code → passed / failed). Unknown codes
    are the caller's to refuse (`unknown_overrides`)."""
    out = []
    for item in items:
        wanted = overrides.get(item.code)
        if wanted is None or wanted == item.status:
            out.append(item)
        else:
            out.append(replace(item, status=wanted, computed=item.status))
    return out


def unknown_overrides(items: Sequence[Item], overrides: Mapping[str, Status]) -> list[str]:
    codes = {i.code for i in items}
    return sorted(code for code in overrides if code not in codes)


def shortfalls(items: Sequence[Item]) -> list[Item]:
    return [i for i in items if i.status is Status.FAILED]
