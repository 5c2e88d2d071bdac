from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from quanzu.models.audit import AuditEntry

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
