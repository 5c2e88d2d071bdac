from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from quanzu.models.audit import AuditEntry, ScreeningRecord

GENESIS = "0" * 64


def chain_head(session: Session) -> tuple[int, str]:
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


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


def screening_rows_after(session: Session, after_id: int, limit: int) -> list[tuple[int, str, datetime]]:
    stmt = (
        select(ScreeningRecord.id, ScreeningRecord.row_hash, ScreeningRecord.at)
        .where(ScreeningRecord.id > after_id)
        .order_by(ScreeningRecord.id)
        .limit(limit)
    )
    return [(i, h, at) for i, h, at in session.execute(stmt)]


def screening_records(session: Session, after_id: int, to_id: int) -> list[ScreeningRecord]:
    stmt = select(ScreeningRecord).where(ScreeningRecord.id > after_id, ScreeningRecord.id <= to_id)
    return list(session.scalars(stmt.order_by(ScreeningRecord.id)))
