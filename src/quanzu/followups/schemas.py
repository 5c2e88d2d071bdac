"""Follow-up callbacks, awakening-room sessions and the protective-action checklist: the inputs
(validated at the edge, each error naming its field) and the views."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from quanzu.codes import WARNING_SIGN_LABELS, ProtectiveAction

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
AwakeningOutcome = Literal["awakened", "partly", "not_awakened"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallbackIn(_Strict):
    """What a follow-up callback found. Warning signs: `renewed_contact` (in contact with the
    fraudster again), `new_app` (a new suspicious app installed), `bank_inquiry` (asking the bank
    about a transfer again), `transfer_intent` (still means to pay); any of them reopens the case."""

    reached: bool
    warning_signs: list[str] = Field(default_factory=list, max_length=10)
    note: Note = ""

    @field_validator("warning_signs")
    @classmethod
    def _signs(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in WARNING_SIGN_LABELS]
        if unknown:
            raise ValueError(
                f"未知的预警迹象：{'、'.join(unknown)}（可选：{'、'.join(WARNING_SIGN_LABELS)}）"
            )
        return list(dict.fromkeys(value))


class CallbackView(BaseModel):
    callback_id: int
    seq: int
    day: int
    due_at: datetime
    overdue_at: datetime
    status: str  # planned | due | overdue | reached | not_reached
    reminded_at: datetime | None
    overdue_marked_at: datetime | None
    done_at: datetime | None
    done_by: str | None
    reached: bool | None
    warning_signs: list[str]
    note: str


class FollowUpPlanView(BaseModel):
    plan_id: int
    case_id: int
    risk_level: str
    trigger: str
    started_at: datetime
    officer: str | None
    ended_at: datetime | None
    status: str  # on_track | behind | completed
    callbacks: list[CallbackView]


class FollowUps(BaseModel):
    """A case's follow-up plan (null until its first meeting) with every callback."""

    case_id: int
    plan: FollowUpPlanView | None


class DueCallback(BaseModel):
    callback_id: int
    case_id: int
    seq: int
    day: int
    due_at: datetime
    overdue_at: datetime
    status: str
    reminded: bool
    risk_level: str
    case_state: str
    station_id: int | None
    target: str  # masked name and phone
    officer: str | None


class AwakeningIn(_Strict):
    """Schedule a session in the awakening room (反诈叫醒室). `station`: the code of the station
    whose room it is (default: the case's station)."""

    station: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    room: Short
    at: datetime
    planned_attendees: list[Short] = Field(default_factory=list, max_length=30)
    note: Note = ""

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("时间须带时区，例如 2026-11-29T09:00:00+08:00")
        return value


class AwakeningRecordIn(_Strict):
    """What happened: who attended (officers, the target), which materials were used (cases,
    videos, the target's own chat records), which relatives were present (their relation only,
    e.g. 女儿 — no names), and the outcome."""

    attended: list[Short] = Field(min_length=1, max_length=30)
    materials: list[Short] = Field(default_factory=list, max_length=30)
    relatives_present: list[Short] = Field(default_factory=list, max_length=20)
    outcome: AwakeningOutcome
    note: Note = ""


class AwakeningView(BaseModel):
    session_id: int
    case_id: int
    station: str
    room: str
    scheduled_at: datetime
    planned_attendees: list[str]
    state: str  # scheduled | held
    created_by: str
    held_at: datetime | None
    recorded_by: str | None
    attended: list[str]
    materials: list[str]
    relatives_present: list[str]
    outcome: str | None
    note: str


class ProtectiveItemIn(_Strict):
    code: ProtectiveAction
    done: bool
    note: Note = ""


class ProtectiveActionsIn(_Strict):
    """Items to set (any subset of the six; the others keep their state)."""

    items: list[ProtectiveItemIn] = Field(min_length=1, max_length=len(ProtectiveAction))


class ProtectiveItemView(BaseModel):
    code: str
    label: str
    done: bool
    done_by: str | None
    done_at: datetime | None
    note: str


class ProtectiveActionsView(BaseModel):
    case_id: int
    items: list[ProtectiveItemView]
