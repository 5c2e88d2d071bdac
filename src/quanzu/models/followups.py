"""After the meeting: follow-up plans and their callbacks (回访), awakening-room sessions
(反诈叫醒室) and the protective actions taken for a target (a checklist per case)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from quanzu.kit.db import Base, UTCDateTime


class FollowUpPlan(Base):
    """The callbacks over four weeks planned for one case when its first meeting was recorded.
    The schedule is frozen on the callbacks: later policy edits do not change a running plan."""

    __tablename__ = "follow_up_plans"
    __table_args__ = (
        # Intake asks "is this person's closed case still under follow-up?" when no case is open.
        Index(
            "ix_follow_up_plans_active_person",
            "person_id",
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    risk_level: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(20))  # the step that started it: face_to_face | phone
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    # The officer who held the meeting makes the callbacks (reminders go to them).
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FollowUpCallback(Base):
    """One planned callback; its reminder and overdue timers carry `token`."""

    __tablename__ = "follow_up_callbacks"
    __table_args__ = (
        UniqueConstraint("plan_id", "seq"),
        # The due lists read the callbacks not yet done, by due time.
        Index(
            "ix_follow_up_callbacks_open",
            "due_at",
            sqlite_where=text("done_at IS NULL"),
            postgresql_where=text("done_at IS NULL"),
        ),
        Index("ix_follow_up_callbacks_due_at", "due_at"),  # the KPIs count callbacks by due time
        # The daily briefing's overdue callbacks at a moment: the unrecorded ones overdue by then
        # (in the order of its list; on PostgreSQL with what it counts and lists, index-only) ...
        Index(
            "ix_follow_up_callbacks_overdue_unrecorded",
            "overdue_at",
            "id",
            sqlite_where=text("done_at IS NULL"),
            postgresql_where=text("done_at IS NULL"),
            postgresql_include=["station_id", "case_id", "seq", "due_at"],
        ),
        # ... and those recorded only after it (a past day's briefing).
        Index(
            "ix_follow_up_callbacks_done_at",
            "done_at",
            postgresql_include=["overdue_at", "station_id", "case_id", "seq", "due_at", "id"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("follow_up_plans.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # The case's station, kept in step with it (set with the plan, moved with a transfer), so the
    # briefing counts overdue callbacks per station without a probe into `cases` for each one.
    station_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    seq: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)  # days after the plan started
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    overdue_at: Mapped[datetime] = mapped_column(UTCDateTime())  # due day's end + grace
    token: Mapped[str] = mapped_column(String(32))
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by: Mapped[str | None] = mapped_column(String(100))
    reached: Mapped[bool | None] = mapped_column()
    warning_signs: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")


class AwakeningSession(Base):
    """A session in the awakening room (反诈叫醒室) for a deeply deceived target."""

    __tablename__ = "awakening_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    room: Mapped[str] = mapped_column(String(100))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    planned_attendees: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16))  # scheduled | held | cancelled
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str | None] = mapped_column(String(100))
    attended: Mapped[list[str]] = mapped_column(JSON, default=list)
    materials: Mapped[list[str]] = mapped_column(JSON, default=list)
    relatives_present: Mapped[list[str]] = mapped_column(JSON, default=list)  # relations, e.g. 女儿
    outcome: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")


class ProtectiveAction(Base):
    """One item of a case's protective-action checklist, as last recorded."""

    __tablename__ = "protective_actions"
    __table_args__ = (UniqueConstraint("case_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    done: Mapped[bool] = mapped_column(default=False)
    done_by: Mapped[str | None] = mapped_column(String(100))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
