"""Follow-up plans as pure functions: which steps start a plan, when each callback is due, when
it is overdue, and what a callback's status is. No I/O; unit-tested exhaustively."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from quanzu.codes import RiskLevel
from quanzu.policy.schemas import FollowUps

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # "the due day" is a local calendar day


@dataclass(frozen=True, slots=True)
class PlannedCallback:
    seq: int
    day: int
    due_at: datetime
    remind_at: datetime
    overdue_at: datetime


def starts_plan(policy: FollowUps, risk: str, kind: str, outcome: str | None) -> bool:
    """A finished face-to-face meeting starts the plan; so does a call that dissuaded the target
    at the risk levels where the policy says a call is enough."""
    if kind == "face_to_face":
        return outcome is not None
    return kind == "phone" and outcome == "dissuaded" and RiskLevel(risk) in policy.phone_dissuaded_starts


def end_of_local_day(at: datetime) -> datetime:
    local = at.astimezone(LOCAL_TZ)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)


def plan_callbacks(policy: FollowUps, risk: str, started_at: datetime) -> list[PlannedCallback]:
    """The callbacks of a plan started at `started_at`: due on day N at the same time of day,
    reminded `remind_before` that, overdue at the due day's end (local) plus the grace."""
    out = []
    for seq, day in enumerate(policy.callback_days[RiskLevel(risk)], start=1):
        due = started_at + timedelta(days=day)
        out.append(
            PlannedCallback(
                seq=seq,
                day=day,
                due_at=due,
                remind_at=due - policy.remind_before,
                overdue_at=end_of_local_day(due) + policy.overdue_grace,
            )
        )
    return out


def callback_status(
    *, done_at: datetime | None, reached: bool | None, due_at: datetime, overdue_at: datetime, now: datetime
) -> str:
    """planned | due | overdue | reached | not_reached (codes.CALLBACK_STATUS_LABELS)."""
    if done_at is not None:
        return "reached" if reached else "not_reached"
    if now >= overdue_at:
        return "overdue"
    return "due" if now >= due_at else "planned"


def raised(risk: str) -> str:
    """One level up (extreme stays extreme)."""
    levels = list(RiskLevel)
    return levels[min(RiskLevel(risk).rank + 1, len(levels) - 1)].value
