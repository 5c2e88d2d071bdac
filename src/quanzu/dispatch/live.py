"""The live in-app channel: server-sent events per connected user.

Publishing happens from worker threads after commit; each subscriber's queue belongs to the
event loop that serves its connection, so we hand events over with call_soon_threadsafe.

Several processes (any number of `quanzu serve` and `quanzu worker`) share one PostgreSQL: a
transaction that publishes also sends the events with `pg_notify`, so they reach every other
process's listener exactly when the data commits (never on rollback). The originating process
delivers to its own subscribers directly after commit and skips its own notification (each hub
has an origin token). An event too large for a notification (8000 bytes) travels as a reference
and the receiving process reads the notification row. On SQLite everything stays in-process."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from quanzu.kit.db import after_commit, before_commit, is_postgres, notify_at_commit
from quanzu.models.dispatch import Notification

if TYPE_CHECKING:
    from quanzu.kit.listener import PgListener
    from quanzu.kit.runtime import Runtime

log = logging.getLogger(__name__)
CHANNEL = "quanzu_live"
NOTIFY_LIMIT = 7900  # bytes; PostgreSQL refuses payloads of 8000 and more
_PENDING = "quanzu.live_pending"  # a list: dropped with the transaction by the unit of work
_ORIGIN = "quanzu.live_origin"
Delivery = tuple[list[int], dict[str, Any]]

_QUEUE_LIMIT = 200  # a stalled phone must not grow memory without bound; it resyncs on reconnect


class LiveHub:
    def __init__(self) -> None:
        self.origin = secrets.token_hex(8)  # tells this process's own notifications apart
        self._reader: sessionmaker[Session] | None = None
        self._subscribers: dict[
            int, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]]
        ] = {}
        self._lock = threading.Lock()

    def subscribe(self, user_id: int) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=_QUEUE_LIMIT)
        with self._lock:
            self._subscribers.setdefault(user_id, set()).add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, user_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with self._lock:
            subs = self._subscribers.get(user_id, set())
            for entry in [e for e in subs if e[1] is queue]:
                subs.discard(entry)
            if not subs:
                self._subscribers.pop(user_id, None)

    def publish(self, user_ids: Iterable[int], event: dict[str, Any]) -> None:
        with self._lock:
            targets = [entry for uid in user_ids for entry in self._subscribers.get(uid, ())]
        for loop, queue in targets:
            loop.call_soon_threadsafe(_offer, queue, event)

    def connected(self, user_id: int) -> int:
        with self._lock:
            return len(self._subscribers.get(user_id, ()))

    def attach(self, listener: PgListener, reader: sessionmaker[Session]) -> None:
        """Delivers the events other processes publish to the subscribers connected here."""
        self._reader = reader
        listener.on(CHANNEL, self.receive)

    def receive(self, payload: str) -> None:
        if not self._subscribers:
            return  # nobody is connected to this process: nothing to parse or deliver
        message = json.loads(payload)
        if message.get("o") == self.origin:
            return  # delivered directly after our own commit
        for user_ids, event in message["d"]:
            if not any(map(self.connected, user_ids)):
                continue  # in particular, an oversized event is not read back for nobody
            resolved = self._resolve(event) if "ref" in event else event
            if resolved is not None:
                self.publish(user_ids, resolved)

    def _resolve(self, ref: dict[str, Any]) -> dict[str, Any] | None:
        if self._reader is None:
            return None
        with self._reader() as session:
            row = session.get(Notification, int(ref["ref"]))
            return notification_event(row) if row is not None else None


def _offer(queue: asyncio.Queue[dict[str, Any]], event: dict[str, Any]) -> None:
    if not queue.full():
        queue.put_nowait(event)


def notification_event(row: Notification) -> dict[str, Any]:
    """What the live stream carries for an inbox notification."""
    return {
        "type": row.kind,
        "notification_id": row.id,
        "case_id": row.case_id,
        "title": row.title,
        "body": row.body,
        "at": row.created_at.isoformat(),
    }


def release(
    session: Session, rt: Runtime, deliveries: list[Delivery], then: Callable[[], None] | None = None
) -> None:
    """Publishes (user ids, event) pairs once the transaction commits: to this process's
    subscribers right after commit, to every other process's with the commit (PostgreSQL)."""

    def local() -> None:
        for user_ids, event in deliveries:
            rt.live.publish(user_ids, event)
        if then is not None:
            then()

    after_commit(session, local)
    if deliveries and is_postgres(session):
        session.info.setdefault(_PENDING, []).extend(deliveries)
        session.info[_ORIGIN] = getattr(rt.live, "origin", "")  # "" (a CLI worker): every hub delivers
        before_commit(session, _notify_pending)


def _notify_pending(session: Session) -> None:
    deliveries: list[Delivery] = session.info.pop(_PENDING, [])
    origin = session.info.pop(_ORIGIN, "")
    for payload in _payloads(origin, deliveries):
        notify_at_commit(session, CHANNEL, payload)


def _payloads(origin: str, deliveries: list[Delivery]) -> list[str]:
    """As few notifications as fit under the size limit; an oversized event goes by reference."""
    envelope = len(json.dumps({"o": origin, "d": []}).encode())
    batches: list[list[str]] = [[]]
    size = envelope
    for user_ids, event in deliveries:
        item = json.dumps([user_ids, event], ensure_ascii=False)
        if envelope + len(item.encode()) > NOTIFY_LIMIT:
            if event.get("notification_id") is None:
                log.warning("live event too large to notify other processes: %s", event.get("type"))
                continue
            item = json.dumps([user_ids, {"ref": event["notification_id"]}])
        if batches[-1] and size + len(item.encode()) + 1 > NOTIFY_LIMIT:
            batches.append([])
            size = envelope
        batches[-1].append(item)
        size += len(item.encode()) + 1
    return [f'{{"o": {json.dumps(origin)}, "d": [{",".join(batch)}]}}' for batch in batches if batch]
