"""The centre's review (复查) of closed cases, the accountability notices that shortfalls become,
and the dissuaders' training records (筛选、培训、考核).

Period assessments of people and stations are not stored: they are computed on read from the
cases, SLA clocks and review findings, so they are always current, any period can be asked for,
and no job has to keep a copy in step."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from quanzu.kit.db import Base, UTCDateTime


class CaseReview(Base):
    """One review per closure of a case: queued when the case closes, then confirmed (the computed
    checklist stands) or overridden (the reviewer changed items, with a reason)."""

    __tablename__ = "case_reviews"
    __table_args__ = (
        # The centre's queue: reviews still waiting, oldest closure first.
        Index(
            "ix_case_reviews_queued",
            "closed_at",
            sqlite_where=text("state = 'queued'"),
            postgresql_where=text("state = 'queued'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # queued | confirmed | overridden
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)  # the daily briefing
    decided_by: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    # The checklist as decided (items with computed and final status), frozen at the decision.
    checklist: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class ReviewFinding(Base):
    """A shortfall the review found: one row per failed checklist item after the decision, so
    scorecards and assessments count findings by item in SQL."""

    __tablename__ = "review_findings"
    __table_args__ = (Index("ix_review_findings_station_item", "station_id", "item_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("case_reviews.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    item_code: Mapped[str] = mapped_column(String(40))
    explanation: Mapped[str] = mapped_column(Text, default="")
    overridden: Mapped[bool] = mapped_column(default=False)  # the reviewer failed an item Quanzu passed


class AccountabilityNotice(Base):
    """问责通知: a review's shortfalls, sent to the station chief, who must acknowledge. Until then
    a reminder timer (token `reminder_token`) reminds the chief and tells the branch."""

    __tablename__ = "accountability_notices"
    __table_args__ = (
        Index(
            "ix_accountability_notices_open",
            "station_id",
            sqlite_where=text("state = 'issued'"),
            postgresql_where=text("state = 'issued'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("case_reviews.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # issued | acknowledged
    items: Mapped[list[str]] = mapped_column(JSON, default=list)  # the failed item codes
    summary: Mapped[str] = mapped_column(Text, default="")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_by: Mapped[str] = mapped_column(String(100))
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reminder_token: Mapped[str] = mapped_column(String(32))
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    response: Mapped[str] = mapped_column(Text, default="")


class TrainingRecord(Base):
    """One course an officer or auxiliary took (培训): when, and the result (pass, fail, or a score)."""

    __tablename__ = "training_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    course: Mapped[str] = mapped_column(String(200))
    taken_on: Mapped[date] = mapped_column(Date)
    result: Mapped[str] = mapped_column(String(8))  # pass | fail | score
    score: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
