"""The review checklist as a pure function of a case snapshot and the policy, exhaustively."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from quanzu.codes import RiskLevel
from quanzu.kit.errors import Conflict
from quanzu.policy.schemas import CLOSE_OUTCOMES
from quanzu.policy.service import load_policy
from quanzu.review.rules import (
    CaseSnapshot,
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
    all_item_labels,
    checklist,
    decide,
    shortfalls,
    unknown_overrides,
)

POLICY = load_policy()
T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def snapshot(**overrides: object) -> CaseSnapshot:
    base: dict[str, object] = {
        "risk_level": "high",
        "outcome": "dissuaded",
        "closed_at": minutes(30),
        "at_station": True,
        "steps": [
            StepDone("sign", None, minutes(1)),
            StepDone("phone", "answered", minutes(3)),
            StepDone("face_to_face", "dissuaded", minutes(20)),
        ],
        "slas": [
            SlaClock("sign", minutes(5), minutes(1), None),
            SlaClock("first_contact", minutes(15), minutes(3), None),
            SlaClock("face_to_face", minutes(24 * 60), minutes(20), None),
            SlaClock("feedback", minutes(48 * 60), minutes(30), None),
        ],
        "reverse_check_entries": 2,
        "follow_up": "on_track",
    }
    base.update(overrides)
    return CaseSnapshot(**base)  # type: ignore[arg-type]


def by_code(snap: CaseSnapshot) -> dict[str, tuple[Status, str]]:
    return {i.code: (i.status, i.explanation) for i in checklist(POLICY, snap)}


def test_a_compliant_case_passes_every_item_and_optional_ones_do_not_apply() -> None:
    items = by_code(snapshot())
    assert {c: s for c, (s, _) in items.items()} == {
        "step:sign": Status.PASSED,
        "step:phone": Status.PASSED,
        "step:face_to_face": Status.PASSED,
        "dissuaded_recorded": Status.PASSED,
        "sla:sign": Status.PASSED,
        "sla:first_contact": Status.PASSED,
        "sla:face_to_face": Status.PASSED,
        "sla:feedback": Status.PASSED,
        "reverse_check": Status.PASSED,
        "follow_up": Status.PASSED,
        "stop_payment": Status.NOT_APPLICABLE,
    }
    assert shortfalls(checklist(POLICY, snapshot())) == []
    assert all(i.label and i.explanation for i in checklist(POLICY, snapshot()))


def test_a_non_compliant_case_fails_exactly_what_it_missed() -> None:
    snap = snapshot(
        steps=[StepDone("sign", None, minutes(9)), StepDone("phone", "dissuaded", minutes(12))],
        slas=[
            SlaClock("sign", minutes(5), minutes(9), minutes(5)),  # met 4 minutes late
            SlaClock("first_contact", minutes(15), minutes(12), None),
            SlaClock("face_to_face", minutes(20), None, minutes(20)),  # breached, never met
            SlaClock("feedback", minutes(48 * 60), minutes(30), None),
        ],
        reverse_check_entries=0,
        follow_up="behind",
        stop_payments=[StopRequest("stopped", None), StopRequest("acknowledged", minutes(15))],
    )
    items = by_code(snap)
    failed = {c for c, (s, _) in items.items() if s is Status.FAILED}
    assert failed == {
        "step:face_to_face",
        "sla:sign",
        "sla:face_to_face",
        "reverse_check",
        "follow_up",
        "stop_payment",
    }
    assert "超时 4 分钟" in items["sla:sign"][1]
    assert "未做" in items["step:face_to_face"][1]
    assert items["dissuaded_recorded"][0] is Status.PASSED  # the call recorded it


def test_a_step_started_but_never_finished_fails_and_says_so() -> None:
    snap = snapshot(steps=[StepDone("sign", None, minutes(1)), StepDone("phone", None, None)], outcome="lost")
    assert by_code(snap)["step:phone"] == (Status.FAILED, "high 风险以 lost 结案须做此步：已开始但未完成")


def test_dissuaded_without_a_dissuaded_call_or_meeting_fails() -> None:
    snap = snapshot(
        steps=[StepDone(k, "answered" if k == "phone" else None, minutes(1)) for k in ("sign", "phone")]
    )
    assert by_code(snap)["dissuaded_recorded"][0] is Status.FAILED


def test_a_clock_that_never_fell_due_before_closing_does_not_apply() -> None:
    snap = snapshot(
        outcome="lost",
        slas=[SlaClock("face_to_face", minutes(24 * 60), None, None)],
        closed_at=minutes(60),
    )
    assert by_code(snap)["sla:face_to_face"][0] is Status.NOT_APPLICABLE
    due_before_close = snapshot(
        slas=[SlaClock("face_to_face", minutes(20), None, None)], closed_at=minutes(60)
    )
    assert by_code(due_before_close)["sla:face_to_face"][0] is Status.FAILED  # no timer fired; still late
    on_the_dot = snapshot(slas=[SlaClock("sign", minutes(5), minutes(5), None)])
    assert by_code(on_the_dot)["sla:sign"][0] is Status.PASSED


@pytest.mark.parametrize(("risk", "outcome"), list(product(RiskLevel, CLOSE_OUTCOMES)))
def test_every_required_step_of_the_policy_is_an_item(risk: RiskLevel, outcome: str) -> None:
    required = POLICY.close_rules[risk][outcome]
    none_done = by_code(snapshot(risk_level=risk.value, outcome=outcome, steps=[]))
    assert {c for c in none_done if c.startswith("step:")} == {f"step:{k}" for k in required}
    assert all(none_done[f"step:{k}"][0] is Status.FAILED for k in required)
    all_done = by_code(
        snapshot(
            risk_level=risk.value,
            outcome=outcome,
            steps=[StepDone(k, "dissuaded", minutes(1)) for k in required],
        )
    )
    assert all(all_done[f"step:{k}"][0] is Status.PASSED for k in required)
    wants_list = outcome in POLICY.reverse_check_required
    empty = by_code(snapshot(risk_level=risk.value, outcome=outcome, reverse_check_entries=0))
    assert empty["reverse_check"][0] is (Status.FAILED if wants_list else Status.NOT_APPLICABLE)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(None, Status.NOT_APPLICABLE), ("on_track", Status.PASSED), ("behind", Status.FAILED)],
)
def test_the_follow_up_item_follows_the_plan(status: str | None, expected: Status) -> None:
    assert by_code(snapshot(follow_up=status))["follow_up"][0] is expected


def test_a_false_alarm_closed_from_triage_needs_no_steps() -> None:
    snap = snapshot(at_station=False, outcome="not_fraud", steps=[], slas=[], reverse_check_entries=0)
    items = by_code(snap)
    assert items["step:sign"][0] is Status.NOT_APPLICABLE
    assert shortfalls(checklist(POLICY, snap)) == []


def test_overrides_change_items_and_remember_what_was_computed() -> None:
    items = checklist(POLICY, snapshot(reverse_check_entries=0))
    decided = decide(
        items, {"reverse_check": Status.PASSED, "sla:sign": Status.FAILED, "step:sign": Status.PASSED}
    )
    changed = {i.code: (i.computed, i.status) for i in decided if i.overridden}
    assert changed == {
        "reverse_check": (Status.FAILED, Status.PASSED),
        "sla:sign": (Status.PASSED, Status.FAILED),
    }
    assert [i.code for i in shortfalls(decided)] == ["sla:sign"]
    assert unknown_overrides(items, {"nope": Status.PASSED, "step:sign": Status.FAILED}) == ["nope"]
    assert set(all_item_labels()) >= {i.code for i in items}


def test_the_review_and_notice_state_machines() -> None:
    assert advance_review("queued", ReviewAction.CONFIRM) is ReviewState.CONFIRMED
    assert advance_review("queued", ReviewAction.OVERRIDE) is ReviewState.OVERRIDDEN
    assert advance_review("queued", ReviewAction.REQUEUE) is ReviewState.QUEUED
    for state, action in product(("confirmed", "overridden"), ReviewAction):
        with pytest.raises(Conflict, match=state):
            advance_review(state, action)
    assert advance_notice("issued", NoticeAction.ACKNOWLEDGE) is NoticeState.ACKNOWLEDGED
    assert advance_notice("issued", NoticeAction.REMIND) is NoticeState.ISSUED
    for notice_action in NoticeAction:
        with pytest.raises(Conflict, match="acknowledged"):
            advance_notice("acknowledged", notice_action)
