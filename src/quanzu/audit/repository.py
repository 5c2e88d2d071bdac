from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from quanzu.kit.db import advisory_key, is_postgres, read_after_kept_rows, row_read_after_kept_rows
from quanzu.models.audit import AuditEntry, ScreeningRecord

GENESIS = "0" * 64
_CHAIN_LOCK = advisory_key("audit-chain")
_LOCKED_HEAD = text("SELECT seq, hash FROM quanzu_audit_chain_head(:lock_key)")
_LOCKED_HEAD_AFTER_ROWS = "SELECT seq, hash FROM quanzu_audit_chain_head(%s, {written})"  # revision 0023


def chain_head(session: Session) -> tuple[int, str]:
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


def lock_chain_head_with_rows(session: Session) -> None:
    """At commit, take the chain's lock and read its head in the statement that writes the
    transaction's kept-back rows, where it can (`read_after_kept_rows`): a round trip fewer."""
    read_after_kept_rows(session, _LOCKED_HEAD_AFTER_ROWS, _CHAIN_LOCK)


def locked_chain_head(session: Session) -> tuple[int, str]:
    """The chain's head, read after taking the chain's lock (held until the transaction ends), so
    that no other writer can append after it first. PostgreSQL: read with the kept-back rows
    (`lock_chain_head_with_rows`), else lock and read in one round trip (revision 0020);
    SQLite's BEGIN IMMEDIATE already holds every writer off."""
    if not is_postgres(session):
        return chain_head(session)
    row = row_read_after_kept_rows(session)
    if row is None:
        # On the connection: through the session, plain SQL would write the rows kept back first.
        row = session.connection().execute(_LOCKED_HEAD, {"lock_key": _CHAIN_LOCK}).one()
    return (row.seq, row.hash) if row.seq is not None else (0, GENESIS)


def iter_chain(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch)
    yield from session.scalars(stmt)


def entries_for(session: Session, subject_type: str, subject_id: str) -> list[AuditEntry]:
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.subject_type == subject_type, AuditEntry.subject_id == subject_id)
        .order_by(AuditEntry.seq)
    )
    return list(session.scalars(stmt))


def last_screening_seal(session: Session, action: str) -> AuditEntry | None:
    stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq.desc()).limit(1)
    return session.scalars(stmt).first()


def screening_seals(session: Session, action: str) -> Iterator[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
    yield from session.scalars(stmt.execution_options(yield_per=1000))


def screening_rows_to_seal(
    session: Session, after_id: int, older_than: datetime, limit: int
) -> list[tuple[int, str]]:
    """The records after `after_id` up to (not including) the first one newer than `older_than`:
    a seal never skips a record that was still committing."""
    first_recent = (
        select(func.min(ScreeningRecord.id))
        .where(ScreeningRecord.id > after_id, ScreeningRecord.at > older_than)
        .scalar_subquery()
    )
    stmt = (
        select(ScreeningRecord.id, ScreeningRecord.row_hash)
        .where(ScreeningRecord.id > after_id, or_(first_recent.is_(None), ScreeningRecord.id < first_recent))
        .order_by(ScreeningRecord.id)
        .limit(limit)
    )
    return [(i, h) for i, h in session.execute(stmt)]


def screening_records(session: Session, after_id: int, to_id: int) -> list[ScreeningRecord]:
    stmt = select(ScreeningRecord).where(ScreeningRecord.id > after_id, ScreeningRecord.id <= to_id)
    return list(session.scalars(stmt.order_by(ScreeningRecord.id)))
