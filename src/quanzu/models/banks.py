"""Police–bank linkage (警银联动): registered banks and branches, the watch list they screen
against, the attempts they report, and emergency stop-payment requests (紧急止付)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, LargeBinary, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from quanzu.kit.db import Base, UTCDateTime

if TYPE_CHECKING:
    from quanzu.models.cases import Case


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # The shared blinding key (HMAC-SHA256 of normalised identifiers), encrypted at rest.
    blinding_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BankBranch(Base):
    __tablename__ = "bank_branches"
    __table_args__ = (UniqueConstraint("bank_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(200))


class WatchEntry(Base):
    """A target whose counter withdrawals and transfers banks should stop and report."""

    __tablename__ = "watch_entries"
    __table_args__ = (
        Index(
            "ix_watch_entries_active",
            "case_id",
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    risk_level: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16))  # policy | officer
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Extended past the case's closure by an officer: closing the case does not end it.
    keep_after_close: Mapped[bool] = mapped_column(default=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))
    case: Mapped[Case] = relationship(lazy="raise")  # flush order only, as `Case.person`


class WatchIdentifier(Base):
    """One identifier of a watched target: found by its blind index (plain screening) and kept
    encrypted so each bank's blinded form can be computed with that bank's key."""

    __tablename__ = "watch_identifiers"
    __table_args__ = (UniqueConstraint("watch_id", "kind", "bidx"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    watch_id: Mapped[int] = mapped_column(ForeignKey("watch_entries.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # id_number | phone | account
    bidx: Mapped[str] = mapped_column(String(64), index=True)
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    masked: Mapped[str] = mapped_column(String(40))


class BankEvent(Base):
    """A watched customer's attempt reported by a bank."""

    __tablename__ = "bank_events"
    __table_args__ = (UniqueConstraint("bank_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    watch_id: Mapped[int] = mapped_column(ForeignKey("watch_entries.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # withdrawal | transfer
    channel: Mapped[str | None] = mapped_column(String(16))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    branch_code: Mapped[str | None] = mapped_column(String(32))
    action_taken: Mapped[str] = mapped_column(String(16))  # held | delayed | completed
    note: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StopPayment(Base):
    """An emergency stop-payment request (紧急止付) filed by an officer with one bank."""

    __tablename__ = "stop_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ack_token: Mapped[str] = mapped_column(String(32))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    bank_note: Mapped[str | None] = mapped_column(Text)


class StopPaymentAccount(Base):
    """One account named in a stop-payment request and what the bank could freeze on it."""

    __tablename__ = "stop_payment_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    stop_payment_id: Mapped[int] = mapped_column(ForeignKey("stop_payments.id"), index=True)
    account_enc: Mapped[bytes] = mapped_column(LargeBinary)
    account_masked: Mapped[str] = mapped_column(String(40))
    holder_masked: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    amount_stopped: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    result: Mapped[str | None] = mapped_column(String(16))  # stopped | partial | failed
