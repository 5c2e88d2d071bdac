"""The daily briefing's figures, computed once (`service.compute`) and rendered as HTML, PDF and
Excel from the same object. Lists are capped (`LIST_LIMIT`); their counts are not."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel

from quanzu.reports.schemas import KpiReport

LIST_LIMIT = 200  # rows per detail list in a briefing; the counts above each list are exact
FORMATS = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


class StationRef(BaseModel):
    code: str
    name: str


class OverdueClock(BaseModel):
    """An SLA clock past its deadline at the end of the day, unmet, on a case still open then."""

    case_id: int
    station: str | None
    kind: str
    due_at: datetime


class OverdueCallback(BaseModel):
    """A follow-up callback (回访) past its overdue time at the end of the day, not yet done."""

    case_id: int
    station: str | None
    seq: int
    due_at: datetime
    overdue_at: datetime


class EscalationRow(BaseModel):
    case_id: int
    station: str | None
    at: datetime
    tier: int
    reason: str


class NoticeRow(BaseModel):
    notice_id: int
    case_id: int
    station: str | None
    issued_at: datetime
    items: list[str]
    state: str


class ReviewSummary(BaseModel):
    decided: int
    confirmed: int
    overridden: int
    findings: int
    findings_overridden: int  # items the reviewer failed although Quanzu had passed them
    findings_by_item: dict[str, int]
    notices_issued: int
    notices: list[NoticeRow]


class GuardRow(BaseModel):
    case_id: int
    station: str | None
    helper_kind: str
    helper: str  # masked
    answered_at: datetime
    answer: str | None
    first_to_reach: bool


class GuardSummary(BaseModel):
    requested: int
    answered: int
    first_to_reach: int
    answered_by_kind: dict[str, int]
    answers: list[GuardRow]


class HandoverNote(BaseModel):
    case_id: int
    station: str | None
    at: datetime
    note: str


class StationLine(BaseModel):
    """One row of the district briefing's station table."""

    code: str
    name: str
    warnings: int
    cases: int
    dissuaded: int
    money_protected: Decimal
    lost: int
    money_lost: Decimal
    overdue_clocks: int
    overdue_callbacks: int
    escalations: int
    findings: int
    guard_first_reach: int
    handovers: int


class Briefing(BaseModel):
    day: date
    scope: str  # "district" or the station code
    station: StationRef | None
    start: datetime  # the local day as [start, end) in UTC
    end: datetime
    computed_at: datetime
    kpis: KpiReport  # the day's KPIs, from the one KPI implementation (reports.service.kpis)
    overdue_clocks: int
    overdue_clock_list: list[OverdueClock]
    overdue_callbacks: int
    overdue_callback_list: list[OverdueCallback]
    escalations: int
    escalations_by_tier: dict[int, int]
    escalation_list: list[EscalationRow]
    review: ReviewSummary
    guards: GuardSummary
    handovers: int
    handover_notes: list[HandoverNote]
    stations: list[StationLine]


class BriefingEntry(BaseModel):
    """A stored briefing in the list."""

    day: date
    scope: str
    station: StationRef | None
    generated_at: datetime
    generated_by: str
    generations: int
