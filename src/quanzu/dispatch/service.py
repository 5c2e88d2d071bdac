"""Telling people: in-app notifications pushed live, and outbound messages through the outbox.

Everything is written in the caller's transaction; the live push and the delivery worker's
wake-up are released only after commit, so a rolled-back warning notifies nobody."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from quanzu.auth.actor import Actor
from quanzu.dispatch import live, repository
from quanzu.dispatch.channels import (
    ChannelEndpoint,
    ChannelKind,
    DeliveryResult,
    OutboundMessage,
    channel_for,
)
from quanzu.kit.db import after_commit, insert_returning_ids, insert_rows, take_ids, transaction
from quanzu.kit.runtime import Runtime
from quanzu.models.dispatch import DeliveryAttempt, Notification, OutboxMessage

RECIPIENT_CONTEXT = "outbox.recipient"
LEASE = timedelta(seconds=60)  # a claimed message is retried by anyone once its lease runs out
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Announcement:
    event: str  # e.g. "case.dispatched", "case.merged"
    case_id: int | None
    title: str
    body: str  # masked PII only: it leaves the database


def announce(
    session: Session,
    rt: Runtime,
    announcement: Announcement,
    user_ids: list[int],
    endpoint_unit_ids: list[int],
) -> None:
    """Queue an in-app notification per user and an outbox message per active endpoint of the
    given org units."""
    announce_many(session, rt, [(announcement, user_ids, endpoint_unit_ids)])


_Announced = tuple[Announcement, list[int], list[int]]  # to these users, to these units' endpoints


def announce_many(session: Session, rt: Runtime, announcements: list[_Announced]) -> None:
    """`announce` for several announcements with one insert per table: intake alerts all the
    cases a warning links to at once, and every round trip there counts."""
    now = rt.clock.now()
    notices: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for announcement, user_ids, endpoint_unit_ids in announcements:
        base = {
            "case_id": announcement.case_id,
            "kind": announcement.event,
            "title": announcement.title,
            "body": announcement.body,
            "created_at": now,
        }
        notices += [{**base, "user_id": uid} for uid in dict.fromkeys(user_ids)]
        endpoint_ids = rt.org.get(session).endpoints_of(endpoint_unit_ids)
        if endpoint_ids:
            payload = _payload(rt, announcement)
            messages += [
                {
                    "endpoint_id": e,
                    "case_id": announcement.case_id,
                    "event": announcement.event,
                    "payload": payload,
                    "created_at": now,
                    "due_at": now,
                    "attempts": 0,
                }
                for e in endpoint_ids
            ]
    ids = take_ids(session, Notification, len(notices))  # the live push needs them
    if ids is None:
        ids = insert_returning_ids(session, Notification, notices)
    else:  # drawn ahead: the rows go in with the transaction's others
        insert_rows(session, Notification, [{"id": i, **n} for i, n in zip(ids, notices, strict=True)])
    insert_rows(session, OutboxMessage, messages)
    live_events = [([n["user_id"]], _live_event(nid, n)) for nid, n in zip(ids, notices, strict=True)]
    live.release(session, rt, live_events, then=rt.wake_delivery if messages else None)


def not_repeated(
    session: Session, rt: Runtime, announcements: list[_Announced], every: timedelta
) -> list[_Announced]:
    """The announcements without the users already told the same kind of news about the same case
    in the last `every` (earlier in this list included): the grouping interval of alerting
    systems, so that news arriving in bursts about one case reaches each person once per
    interval. Zero: all of them. Endpoints are not filtered."""
    if not every or not announcements:
        return announcements
    about = {(a.event, a.case_id) for a, _users, _units in announcements if a.case_id is not None}
    told = repository.told_since(session, about, rt.clock.now() - every)
    kept: list[_Announced] = []
    for announcement, user_ids, endpoint_unit_ids in announcements:
        key = (announcement.event, announcement.case_id)
        fresh = [u for u in user_ids if (u, *key) not in told]
        told.update((u, *key) for u in fresh)
        if fresh or endpoint_unit_ids:
            kept.append((announcement, fresh, endpoint_unit_ids))
    return kept


def send_to_person(
    session: Session,
    rt: Runtime,
    endpoint_id: int,
    *,
    event: str,
    case_id: int | None,
    text: str,
    recipient: str,
) -> OutboxMessage:
    """Queue a message to one person (an SMS): durable and retried like every outbound message.
    The phone number is PII, so the outbox keeps it encrypted; the worker decrypts it to send."""
    now = rt.clock.now()
    recipient_enc = base64.b64encode(rt.cipher.encrypt(recipient, context=RECIPIENT_CONTEXT)).decode()
    row = OutboxMessage(
        endpoint_id=endpoint_id,
        case_id=case_id,
        event=event,
        payload={
            "title": "",
            "text": text,
            "url": None,
            "data": {"case_id": case_id},
            "recipient_enc": recipient_enc,
        },
        created_at=now,
        due_at=now,
        attempts=0,
    )
    session.add(row)
    session.flush()
    after_commit(session, rt.wake_delivery)
    return row


def _payload(rt: Runtime, a: Announcement) -> dict[str, Any]:
    url = f"{rt.base_url}/cases/{a.case_id}" if a.case_id is not None else None
    return {"title": a.title, "text": a.body, "url": url, "data": {"case_id": a.case_id}}


def _live_event(notification_id: int, base: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": base["kind"],
        "notification_id": notification_id,
        "case_id": base["case_id"],
        "title": base["title"],
        "body": base["body"],
        "at": base["created_at"].isoformat(),
    }


# --- delivery (the worker's side) ---------------------------------------------------------------


def deliver_due(
    factory: sessionmaker[Session], rt: Runtime, *, max_attempts: int, limit: int = 20, timeout_s: float = 5.0
) -> int:
    """Claim due messages under a lease, send each outside any transaction, record the attempt.
    A crash between send and record means one more send after the lease: receivers de-duplicate
    on the delivery id (at-least-once, the webhook norm)."""
    claimed = _claim(factory, rt, limit)
    for message_id, endpoint, message in claimed:
        result = _send(endpoint, message, rt, timeout_s)
        _record(factory, rt, message_id, result, max_attempts)
    return len(claimed)


def _claim(
    factory: sessionmaker[Session], rt: Runtime, limit: int
) -> list[tuple[int, ChannelEndpoint, OutboundMessage]]:
    now = rt.clock.now()
    out = []
    with transaction(factory) as session:
        for row in repository.claim_due(session, now, limit):
            ep = repository.endpoint(session, row.endpoint_id)
            row.due_at = now + LEASE
            row.attempts += 1
            if ep is None or not ep.active:
                row.dead_at, row.last_status = now, "endpoint removed"
                continue
            endpoint = ChannelEndpoint(
                kind=ChannelKind(ep.kind), target=ep.target, secret=ep.secret, options=dict(ep.options or {})
            )
            out.append((row.id, endpoint, _message(row, rt)))
    return out


def _message(row: OutboxMessage, rt: Runtime) -> OutboundMessage:
    p = row.payload
    recipient_enc = p.get("recipient_enc")
    # The delivery id is stable across retries so that receivers can drop duplicates.
    delivery_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"quanzu:outbox:{row.id}"))
    return OutboundMessage(
        message_id=delivery_id,
        event=row.event,
        title=p["title"],
        text=p["text"],
        url=p.get("url"),
        data=p.get("data", {}),
        recipient=rt.cipher.decrypt(base64.b64decode(recipient_enc), context=RECIPIENT_CONTEXT)
        if recipient_enc
        else None,
    )


def _send(
    endpoint: ChannelEndpoint, message: OutboundMessage, rt: Runtime, timeout_s: float
) -> DeliveryResult:
    now_ms = int(rt.clock.now().timestamp() * 1000)
    return channel_for(endpoint.kind, timeout_s=timeout_s).send(endpoint, message, now_ms)


def _record(
    factory: sessionmaker[Session], rt: Runtime, message_id: int, result: DeliveryResult, max_attempts: int
) -> None:
    now = rt.clock.now()
    with transaction(factory) as session:
        row = session.get(OutboxMessage, message_id)
        if row is None or row.delivered_at is not None:
            return
        session.add(
            DeliveryAttempt(
                outbox_id=row.id, at=now, ok=result.ok, status=result.status[:100], detail=result.detail[:500]
            )
        )
        row.last_status = result.status[:100]
        if result.ok:
            row.delivered_at = now
        elif not result.retryable or row.attempts >= max_attempts:
            row.dead_at = now
        else:
            row.due_at = now + backoff(row.attempts)


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * (1 << min(max(attempts - 1, 0), 20)), BACKOFF_CAP)


def next_due(factory: sessionmaker[Session]) -> datetime | None:
    with transaction(factory) as session:
        return repository.next_due_at(session)


def inbox(session: Session, actor: Actor) -> list[Notification]:
    if actor.kind != "user" or actor.id is None:
        return []
    return repository.notifications_for(session, actor.id)


def broadcast_change(session: Session, rt: Runtime, case_id: int, state: str, user_ids: list[int]) -> None:
    """Tells open pages that a case changed (no inbox row: nothing to read later, just refresh)."""
    event = {"type": "case.changed", "case_id": case_id, "state": state, "at": rt.clock.now().isoformat()}
    live.release(session, rt, [(list(dict.fromkeys(user_ids)), event)])
