"""The plan computation as pure functions: days per tier, reminder and overdue times, what
starts a plan, raising the risk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from quanzu.followups.rules import callback_status, end_of_local_day, plan_callbacks, raised, starts_plan
from quanzu.policy.schemas import FollowUps
from quanzu.policy.service import load_policy

POLICY = load_policy().followups
MET = datetime(2026, 11, 28, 6, 1, tzinfo=UTC)  # 14:01 in Suzhou


@pytest.mark.parametrize(
    ("risk", "days"),
    [
        ("extreme", [1, 3, 7, 14, 21, 28]),
        ("high", [3, 7, 14, 28]),
        ("medium", [7, 28]),
        ("low", [28]),
    ],
)
def test_each_tier_gets_its_callback_days(risk: str, days: list[int]) -> None:
    plan = plan_callbacks(POLICY, risk, MET)
    assert [p.day for p in plan] == days
    assert [p.seq for p in plan] == list(range(1, len(days) + 1))
    assert [p.due_at for p in plan] == [MET + timedelta(days=d) for d in days]


def test_reminder_before_due_and_overdue_at_the_local_day_end_plus_grace() -> None:
    first = plan_callbacks(POLICY, "high", MET)[0]
    assert first.due_at == datetime(2026, 12, 1, 6, 1, tzinfo=UTC)
    assert first.remind_at == first.due_at - timedelta(hours=2)
    # Due on 1 December (Suzhou): that day ends at 16:00 UTC; plus the 2 h grace.
    assert first.overdue_at == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def test_the_local_day_end_is_midnight_in_suzhou_not_utc() -> None:
    late = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)  # already 01:30 on the 29th in Suzhou
    assert end_of_local_day(late) == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)


def test_a_custom_policy_changes_the_days() -> None:
    custom = FollowUps.model_validate(
        {"callback_days": {"extreme": [1, 2], "high": [5], "medium": [10], "low": [30]}, "overdue_grace": 0}
    )
    assert [p.day for p in plan_callbacks(custom, "extreme", MET)] == [1, 2]
    assert plan_callbacks(custom, "low", MET)[0].overdue_at == end_of_local_day(MET + timedelta(days=30))


@pytest.mark.parametrize("bad", [{"high": [7, 3]}, {"high": [0]}, {"high": [3, 3]}])
def test_the_policy_refuses_bad_days(bad: dict[str, list[int]]) -> None:
    days = {"extreme": [1], "high": [3], "medium": [7], "low": [28], **bad}
    with pytest.raises(ValueError, match="callback_days"):
        FollowUps.model_validate({"callback_days": days})


def test_the_policy_refuses_unknown_warning_signs() -> None:
    with pytest.raises(ValueError, match="warning_signs"):
        FollowUps.model_validate({"warning_signs": ["renewed_contact", "aliens"]})


@pytest.mark.parametrize(
    ("risk", "kind", "outcome", "starts"),
    [
        ("high", "face_to_face", "dissuaded", True),
        ("extreme", "face_to_face", "not_convinced", True),
        ("high", "face_to_face", None, False),  # only started: not a meeting yet
        ("low", "phone", "dissuaded", True),
        ("medium", "phone", "dissuaded", True),
        ("high", "phone", "dissuaded", False),  # high risk needs the meeting
        ("low", "phone", "answered", False),
        ("low", "analysis", "done", False),
    ],
)
def test_what_starts_a_plan(risk: str, kind: str, outcome: str | None, starts: bool) -> None:
    assert starts_plan(POLICY, risk, kind, outcome) is starts


def test_raising_the_risk_stops_at_extreme() -> None:
    assert [raised(r) for r in ("low", "medium", "high", "extreme")] == [
        "medium",
        "high",
        "extreme",
        "extreme",
    ]


def test_callback_status() -> None:
    due, overdue = MET, MET + timedelta(hours=12)
    kw = {"due_at": due, "overdue_at": overdue}
    assert callback_status(done_at=None, reached=None, now=due - timedelta(seconds=1), **kw) == "planned"
    assert callback_status(done_at=None, reached=None, now=due, **kw) == "due"
    assert callback_status(done_at=None, reached=None, now=overdue, **kw) == "overdue"
    assert callback_status(done_at=due, reached=True, now=overdue, **kw) == "reached"
    assert callback_status(done_at=due, reached=False, now=overdue, **kw) == "not_reached"
