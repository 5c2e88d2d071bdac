"""Intelligence: fraudster identifiers seen across cases, and the scam-type suggestion per case.

A fraudster's phone, account or chat id is not the victim's PII, but it may belong to a real
person (a money mule, a hijacked number): it is stored like PII — AES-GCM encrypted, found by
an HMAC blind index of its normalised form (so matching never decrypts), shown masked except to
the centre."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Float, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from quanzu.kit.db import Base, UTCDateTime

if TYPE_CHECKING:
    from quanzu.models.cases import Case


class FraudIdentifier(Base):
    __tablename__ = "fraud_identifiers"
    __table_args__ = (UniqueConstraint("kind", "value_bidx"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    value_bidx: Mapped[str] = mapped_column(String(64))
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    value_masked: Mapped[str] = mapped_column(String(300))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FraudSighting(Base):
    """An identifier seen in a case: in a warning's scam contacts or the reverse-check list."""

    __tablename__ = "fraud_sightings"
    __table_args__ = (UniqueConstraint("identifier_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier_id: Mapped[int] = mapped_column(ForeignKey("fraud_identifiers.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # warning | reverse_check
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScamSuggestion(Base):
    """The scam type suggested for a case that arrived as `other`, and the officer's decision."""

    __tablename__ = "scam_suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    scam_type: Mapped[str | None] = mapped_column(String(32))  # None: no type had enough evidence
    confidence: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(32))  # "phrases" or "learned-v3+phrases"
    drivers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decision: Mapped[str | None] = mapped_column(String(16))  # confirmed | corrected
    decided_type: Mapped[str | None] = mapped_column(String(32))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    case: Mapped[Case] = relationship(lazy="raise")  # flush order only, as `Case.person`
