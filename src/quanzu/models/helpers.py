"""Social forces (社会力量): the anti-fraud guard registry, the people around a target (relatives,
work-unit leaders, village/community workers), and the help requests of the warning race.

Names and phones are PII: encrypted at rest, found through blind indexes, shown masked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from quanzu.kit.db import Base, UTCDateTime


class Guard(Base):
    """A volunteer anti-fraud guard (反诈卫士) at an enterprise, village or community."""

    __tablename__ = "guards"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    name_masked: Mapped[str] = mapped_column(String(64))
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    phone_bidx: Mapped[str] = mapped_column(String(64), unique=True)  # one guard per phone: re-imports update
    phone_masked: Mapped[str] = mapped_column(String(32))
    employer: Mapped[str | None] = mapped_column(String(200))
    # Normalised forms (see helpers.ranking) kept beside the names, so that ranking a case compares
    # the distinct names once instead of normalising 12,000 rows per request.
    employer_key: Mapped[str | None] = mapped_column(String(200), index=True)
    workplace: Mapped[str | None] = mapped_column(String(200))
    community: Mapped[str | None] = mapped_column(String(100))
    community_key: Mapped[str | None] = mapped_column(String(100), index=True)
    trained: Mapped[bool] = mapped_column(Boolean, default=False)
    consented: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PersonContact(Base):
    """Someone close to a target: a relative, a work-unit leader, a village/community worker.
    Kept per person (not per case), so a repeat victim's circle is there on the next case."""

    __tablename__ = "person_contacts"
    __table_args__ = (UniqueConstraint("person_id", "phone_bidx"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)  # the case it was added on
    relation: Mapped[str] = mapped_column(String(20))  # relative | work_leader | community_worker
    relationship: Mapped[str] = mapped_column(String(50), default="")  # e.g. 儿子, 车间主任, 网格员
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    name_masked: Mapped[str] = mapped_column(String(64))
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    phone_bidx: Mapped[str] = mapped_column(String(64))
    phone_masked: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(200), default="")
    added_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HelpRequest(Base):
    """One helper asked to reach a target, through a one-time link (only its hash is stored)."""

    __tablename__ = "help_requests"
    __table_args__ = (
        # The warning race has one winner per case; the database holds that line too.
        Index(
            "uq_help_requests_first_reach",
            "case_id",
            unique=True,
            sqlite_where=text("first_to_reach"),
            postgresql_where=text("first_to_reach"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    guard_id: Mapped[int | None] = mapped_column(ForeignKey("guards.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("person_contacts.id"), index=True)
    helper_kind: Mapped[str] = mapped_column(String(20))  # guard | relative | work_leader | community_worker
    helper_masked: Mapped[str] = mapped_column(String(64))
    phone_masked: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")  # why the ranking suggested this helper
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))  # the SMS carrying the link
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(String(24))
    answer_note: Mapped[str] = mapped_column(Text, default="")
    first_to_reach: Mapped[bool] = mapped_column(Boolean, default=False)
