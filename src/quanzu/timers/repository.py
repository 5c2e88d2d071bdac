from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from quanzu.kit.db import is_postgres
from quanzu.models.timers import Timer


def claim_due(session: Session, now: datetime, limit: int) -> list[Timer]:
    """Due, unfired timers, row-locked until this transaction ends; other workers skip them."""
    stmt = (
        select(Timer).where(Timer.fired_at.is_(None), Timer.due_at <= now).order_by(Timer.due_at).limit(limit)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def next_due_at(session: Session) -> datetime | None:
    stmt = select(Timer.due_at).where(Timer.fired_at.is_(None)).order_by(Timer.due_at).limit(1)
    return session.scalars(stmt).first()


def exists(session: Session, kind: str, subject_id: int, key: str, due_at: datetime) -> bool:
    stmt = select(Timer.id).where(
        Timer.kind == kind, Timer.subject_id == subject_id, Timer.key == key, Timer.due_at == due_at
    )
    return session.scalars(stmt.limit(1)).first() is not None


def cancel(session: Session, kind: str, subject_id: int, now: datetime) -> None:
    """Marks a subject's pending timers of a kind as fired-without-effect (e.g. the case closed)."""
    session.execute(
        update(Timer)
        .where(Timer.kind == kind, Timer.subject_id == subject_id, Timer.fired_at.is_(None))
        .values(fired_at=now, outcome="cancelled")
    )
