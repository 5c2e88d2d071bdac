from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from quanzu.kit.db import is_postgres, one_of
from quanzu.models.dispatch import ChannelEndpointRow, DeliveryAttempt, Notification, OutboxMessage


def claim_due(session: Session, now: datetime, limit: int) -> list[OutboxMessage]:
    """Due, undelivered messages, locked so that parallel workers never send one twice."""
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.delivered_at.is_(None), OutboxMessage.dead_at.is_(None), OutboxMessage.due_at <= now
        )
        .order_by(OutboxMessage.due_at)
        .limit(limit)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def next_due_at(session: Session) -> datetime | None:
    stmt = select(OutboxMessage.due_at).where(
        OutboxMessage.delivered_at.is_(None), OutboxMessage.dead_at.is_(None)
    )
    return session.scalars(stmt.order_by(OutboxMessage.due_at).limit(1)).first()


def endpoint(session: Session, endpoint_id: int) -> ChannelEndpointRow | None:
    return session.get(ChannelEndpointRow, endpoint_id)


def attempts_for(session: Session, outbox_id: int) -> list[DeliveryAttempt]:
    stmt = select(DeliveryAttempt).where(DeliveryAttempt.outbox_id == outbox_id).order_by(DeliveryAttempt.id)
    return list(session.scalars(stmt))


def notifications_for(session: Session, user_id: int, limit: int = 50) -> list[Notification]:
    stmt = (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def mark_read(session: Session, user_id: int, notification_ids: list[int], at: datetime) -> int:
    stmt = (
        update(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.id.in_(notification_ids),
            Notification.read_at.is_(None),
        )
        .values(read_at=at)
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]


def told_since(
    session: Session, about: set[tuple[str, int]], since: datetime
) -> set[tuple[int, str, int | None]]:
    """(user, kind, case) of the notifications of these kinds about these cases made after `since`."""
    if not about:
        return set()
    stmt = select(Notification.user_id, Notification.kind, Notification.case_id).where(
        one_of(session, Notification.case_id, {case_id for _kind, case_id in about}),
        one_of(session, Notification.kind, {kind for kind, _case_id in about}),
        Notification.created_at > since,
    )
    return {(user_id, kind, case_id) for user_id, kind, case_id in session.execute(stmt)}
