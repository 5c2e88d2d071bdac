"""Timers are rows: durable across restarts, claimed by whichever worker gets there first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from quanzu.kit.db import Base, UTCDateTime


class Timer(Base):
    __tablename__ = "timers"
    __table_args__ = (
        Index(
            "ix_timers_pending_due",
            "due_at",
            sqlite_where=text("fired_at IS NULL"),
            postgresql_where=text("fired_at IS NULL"),
        ),
        Index("ix_timers_subject", "kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # sla | escalation | handover
    subject_id: Mapped[int] = mapped_column(Integer)  # case id (sla, escalation) or station id (handover)
    key: Mapped[str] = mapped_column(String(32), default="")  # e.g. the SLA kind
    token: Mapped[str] = mapped_column(String(32))  # must match the subject's current token to act
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(40))  # what firing did: acted | stale | error: …
