from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel


class StationRef(BaseModel):
    code: str
    name: str


class RoutingView(BaseModel):
    method: str
    detail: str


class AssigneeView(BaseModel):
    user_id: int
    username: str
    display_name: str
    position: str
    assigned_at: datetime
    released_at: datetime | None = None


class StepView(BaseModel):
    kind: str
    actor: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    note: str


class SlaView(BaseModel):
    kind: str
    due_at: datetime
    met_at: datetime | None
    breached_at: datetime | None
    status: str  # pending | met | met_late | breached
    seconds_left: int | None  # for live countdowns; None once met


class EscalationView(BaseModel):
    state: str  # climbing | at_top | acknowledged | closed
    reason: str
    started_at: str
    tier: int
    acknowledged_by: str | None = None


class ReverseCheckView(BaseModel):
    kind: str
    value: str
    note: str


class TargetView(BaseModel):
    name: str
    phone: str
    id_number: str
    masked: bool = True


class ScamContactView(BaseModel):
    kind: str
    value: str


class SignalView(BaseModel):
    warning_id: int
    source: str
    external_id: str
    issued_at: datetime
    received_at: datetime
    merged: bool
    scam_type: str
    risk_level: str
    amount_at_risk: Decimal | None
    description: str
    scam_contacts: list[ScamContactView]


class EventView(BaseModel):
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any]


class CaseSummary(BaseModel):
    case_id: int
    state: str
    tier: int
    risk_level: str
    scam_type: str
    urgency: int
    signal_count: int
    station: StationRef | None
    target: TargetView
    amount_at_risk: Decimal | None
    opened_at: datetime
    updated_at: datetime


class CaseDetail(CaseSummary):
    routing: RoutingView
    outcome: str | None
    amount_protected: Decimal | None
    amount_lost: Decimal | None
    closed_at: datetime | None
    handling: StationRef | None  # a branch squadron that took the case over or co-handles it
    handling_mode: str | None
    escalation: EscalationView | None
    steps: list[StepView]
    sla: list[SlaView]
    reverse_check: list[ReverseCheckView]
    assignees: list[AssigneeView]
    signals: list[SignalView]
    timeline: list[EventView]
    earlier_cases: list[int]


class RevealedTarget(BaseModel):
    name: str
    phone: str | None
    id_number: str | None
    address: str | None
    employer: str | None
    age: int | None
    gender: str | None


class BoardRow(BaseModel):
    """An open case as the task list and the centre's board show it."""

    case: CaseSummary
    next_sla: str | None
    next_due_at: datetime | None
    overdue: bool
    escalated: bool


class BoardFilters(BaseModel):
    station: str | None = None
    risk: str | None = None
    scam_type: str | None = None
    state: str | None = None
    tier: int | None = None
