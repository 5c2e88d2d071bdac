"""Targets, warnings and the cases they open. Identifiers of a target are encrypted at rest and
found through blind indexes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from quanzu.kit.db import Base, UTCDateTime


class Person(Base):
    __tablename__ = "persons"
    # A phone's holders, newest last: intake matches a phone alone to its newest holder.
    __table_args__ = (Index("ix_persons_phone_bidx_id", "phone_bidx", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    name_masked: Mapped[str] = mapped_column(String(64), default="")
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_bidx: Mapped[str | None] = mapped_column(String(64))
    # Masked forms for lists and notifications, so showing a case needs no decryption.
    id_number_masked: Mapped[str] = mapped_column(String(32), default="")
    phone_masked: Mapped[str] = mapped_column(String(32), default="")
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    employer: Mapped[str | None] = mapped_column(String(200))
    age: Mapped[int | None] = mapped_column(Integer)
    gender: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        # One open case per person at most: the merge rule, enforced by the database too.
        Index(
            "uq_cases_open_person",
            "person_id",
            unique=True,
            sqlite_where=text("state != 'closed'"),
            postgresql_where=text("state != 'closed'"),
        ),
        Index("ix_cases_station_opened", "station_id", "opened_at"),  # a station's cases by time
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    tier: Mapped[int] = mapped_column(Integer, default=1)
    risk_level: Mapped[str] = mapped_column(String(16))
    scam_type: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[int] = mapped_column(Integer, default=0)
    signal_count: Mapped[int] = mapped_column(Integer, default=1)
    amount_at_risk: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    routing_method: Mapped[str] = mapped_column(String(16))
    routing_detail: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)  # briefing: open at a time
    outcome: Mapped[str | None] = mapped_column(String(16))
    # Set when a closed case is reopened (a warning sign on a follow-up, a new warning): its SLA
    # clocks run again from here.
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Milestones kept on the case when the steps are recorded, so reports read one row per case
    # instead of searching the steps (KPI definitions: DESIGN.md).
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_meeting_outcome: Mapped[str | None] = mapped_column(String(20))
    amount_protected: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    amount_lost: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    # The repeat-warning KPI, decided when the case opens (every earlier warning of the person
    # exists then: warnings are received at the clock's now): another warning of the person
    # received within `codes.REPEAT_WARNING_WINDOW` before `opened_at`. Reports count it instead
    # of searching each case's history.
    repeat_warned_30d: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Who handles it beyond the station: a branch squadron that took it over or co-handles it.
    handling_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    handling_mode: Mapped[str | None] = mapped_column(String(16))  # takeover | cohandle
    # The escalation ladder, frozen when the climb starts (who, in what order, with what waits).
    escalation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    escalation_token: Mapped[str | None] = mapped_column(String(32))
    # Never loaded (the services go by ids); declared so that one flush writing a person, its
    # case and its warning together writes them in that order (`kit.db.add_with_id`).
    person: Mapped[Person] = relationship(lazy="raise")


class EarlyWarning(Base):
    __tablename__ = "warnings"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        # The repeat-warning KPI looks up a person's warnings in the 30 days before a case.
        Index("ix_warnings_person_received", "person_id", "received_at"),
        # Received in a period (KPIs, briefings, intake): on PostgreSQL with the person and case,
        # so the KPIs' repeat-warning check reads a month of warnings from the index alone.
        Index("ix_warnings_received_at", "received_at", postgresql_include=["person_id", "case_id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # No index of its own: ix_warnings_person_received leads with it (a second index on the same
    # key would only make the planner pick the narrower one and fetch every row to check the time).
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    merged: Mapped[bool] = mapped_column(default=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    scam_type: Mapped[str] = mapped_column(String(32))
    risk_level: Mapped[str] = mapped_column(String(16))
    amount_at_risk: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    description: Mapped[str] = mapped_column(Text, default="")
    routing_method: Mapped[str] = mapped_column(String(16))
    routing_detail: Mapped[str] = mapped_column(Text)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    # The target as this warning described it (encrypted), kept as its own signal.
    target_enc: Mapped[bytes] = mapped_column(LargeBinary)
    case: Mapped[Case] = relationship(lazy="raise")  # flush order only, as `Case.person`
    person: Mapped[Person] = relationship(lazy="raise")


class ScamContact(Base):
    __tablename__ = "scam_contacts"
    __table_args__ = (Index("ix_scam_contacts_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(200))


class CaseAssignee(Base):
    __tablename__ = "case_assignees"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    position: Mapped[str] = mapped_column(String(16))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # handed over at a shift end


class CaseEvent(Base):
    """Append-only: this table is the case timeline."""

    __tablename__ = "case_events"
    __table_args__ = (
        # The daily briefing counts a day's tier climbs and handover notes: a small index of those
        # kinds only, so the warnings' many other events cost it nothing.
        Index(
            "ix_case_events_briefing_kinds",
            "at",
            sqlite_where=text("kind IN ('escalated', 'handover')"),
            postgresql_where=text("kind IN ('escalated', 'handover')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CaseStep(Base):
    """One prescribed step (规定动作) as done: who, from when to when, with what outcome."""

    __tablename__ = "case_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")


class CaseSla(Base):
    """One SLA clock of a case (sign, first contact, face-to-face, feedback)."""

    __tablename__ = "case_slas"
    __table_args__ = (
        UniqueConstraint("case_id", "kind"),
        # The boards ask every open case for its next unmet deadline.
        Index(
            "ix_case_slas_unmet",
            "case_id",
            "due_at",
            sqlite_where=text("met_at IS NULL"),
            postgresql_where=text("met_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    token: Mapped[str] = mapped_column(String(32))  # a new plan (e.g. risk raised) makes old timers stale


class ReverseCheckEntry(Base):
    """倒查清单: a fraudster contact found while handling the case, as structured data."""

    __tablename__ = "reverse_check_entries"
    __table_args__ = (Index("ix_reverse_check_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(300))
    note: Mapped[str] = mapped_column(String(300), default="")
