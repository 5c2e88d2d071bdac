"""What the review, accountability, scorecard, training and export endpoints accept and answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from quanzu.cases.schemas import StationRef
from quanzu.kit.errors import FieldError, ValidationFailed
from quanzu.reports.schemas import Period

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- reviews --------------------------------------------------------------------------------------


class ChecklistItemView(BaseModel):
    code: str
    label: str
    status: str  # passed | failed | not_applicable
    explanation: str
    computed: str | None = None  # what Quanzu computed, when the reviewer changed it
    overridden: bool = False


class ReviewView(BaseModel):
    review_id: int
    case_id: int
    station: StationRef | None
    state: str  # queued | confirmed | overridden
    risk_level: str
    scam_type: str
    outcome: str | None
    target: str  # masked name
    closed_at: datetime
    queued_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str
    checklist: list[ChecklistItemView]
    failed: int
    notice_id: int | None = None


class DecisionIn(_In):
    """`confirm` accepts the computed checklist; `override` changes items (code → passed |
    failed) and needs a reason."""

    decision: Literal["confirm", "override"]
    overrides: dict[str, Literal["passed", "failed"]] = Field(default_factory=dict)
    reason: Text = ""

    @model_validator(mode="after")
    def _consistent(self) -> DecisionIn:
        if self.decision == "override":
            if not self.reason:
                raise _field_error("reason", "改判必须说明理由")
            if not self.overrides:
                raise _field_error("overrides", "改判至少要改一项")
        elif self.overrides:
            raise _field_error("overrides", "确认不能带改判项；要改判请用 override")
        return self


def _field_error(field: str, message: str) -> ValidationFailed:
    """A cross-field rule broken: raised through pydantic as the API's 422 naming the field."""
    return ValidationFailed([FieldError(field, message)])


# --- accountability notices -------------------------------------------------------------------------


class NoticeItem(BaseModel):
    code: str
    label: str


class NoticeView(BaseModel):
    notice_id: int
    review_id: int
    case_id: int
    station: StationRef
    state: str  # issued | acknowledged
    items: list[NoticeItem]
    summary: str
    issued_at: datetime
    issued_by: str
    ack_due_at: datetime
    reminders: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    response: str


class AcknowledgeIn(_In):
    response: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


# --- scorecards ---------------------------------------------------------------------------------------


class SlaCompliance(BaseModel):
    met: int  # decided clocks met on time
    counted: int  # decided clocks (the KPI's definition)
    rate: float | None


class ReviewCounts(BaseModel):
    queued: int = 0
    confirmed: int = 0
    overridden: int = 0


class StationScorecard(BaseModel):
    code: str
    name: str
    cases: int
    closed: int
    sla_compliance: dict[str, SlaCompliance]
    sla_compliance_rate: float | None  # over every kind
    first_meeting_success_rate: float | None
    follow_up_completion_rate: float | None
    reviews: ReviewCounts
    findings: dict[str, int]  # item code → failed items found by the review
    notices_issued: int
    notices_acknowledged: int


class Scorecards(BaseModel):
    period: Period
    stations: list[StationScorecard]


# --- training and assessments ---------------------------------------------------------------------------


class TrainingIn(_In):
    user: Name  # username
    course: Name
    taken_on: date
    result: Literal["pass", "fail", "score"]
    score: int | None = Field(default=None, ge=0, le=100)
    note: Text = ""

    @model_validator(mode="after")
    def _score(self) -> TrainingIn:
        if self.result == "score" and self.score is None:
            raise _field_error("score", "结果为分数时须填写分数（0–100）")
        return self


class TrainingView(BaseModel):
    training_id: int
    username: str
    display_name: str
    course: str
    taken_on: date
    result: str
    score: int | None
    note: str
    recorded_by: str
    recorded_at: datetime


class Assessment(BaseModel):
    """考核: one person's own cases opened in the period (cases they were on)."""

    username: str
    display_name: str
    role: str
    unit: str
    cases: int
    closed: int
    dissuaded: int
    dissuaded_rate: float | None  # dissuaded / closed
    sla_met: int
    sla_counted: int
    sla_met_rate: float | None
    review_findings: int
    trainings: int
    trainings_passed: int
    last_training: date | None


class Assessments(BaseModel):
    period: Period
    people: list[Assessment]


RESULT_LABELS = {"pass": "合格", "fail": "不合格", "score": "分数"}
