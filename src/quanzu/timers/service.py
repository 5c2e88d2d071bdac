"""Durable timers: scheduled as rows in the caller's transaction, fired by the worker.

Firing claims due rows (SKIP LOCKED on PostgreSQL; SQLite's single writer serialises), runs the
kind's handler, and marks the row fired — all in one transaction, so a timer's effect happens
exactly once even with several workers or a crash in between. Handlers re-check their subject
and compare tokens: a timer planned for a state that has since changed does nothing."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from quanzu.kit.db import transaction
from quanzu.kit.runtime import Runtime
from quanzu.models.timers import Timer
from quanzu.timers import repository

log = logging.getLogger(__name__)
Handler = Callable[[Session, Runtime, Timer], str]  # returns what firing did, e.g. "acted", "stale"
RETRY_AFTER_ERROR = timedelta(seconds=30)


def new_token() -> str:
    return secrets.token_hex(8)


def schedule(
    session: Session, kind: str, subject_id: int, due_at: datetime, token: str, key: str = ""
) -> Timer:
    timer = Timer(kind=kind, subject_id=subject_id, key=key, token=token, due_at=due_at)
    session.add(timer)
    return timer


def fire_due(
    factory: sessionmaker[Session], rt: Runtime, handlers: Mapping[str, Handler], limit: int = 200
) -> int:
    """Fires up to `limit` due timers in one transaction; returns how many were claimed."""
    now = rt.clock.now()
    with transaction(factory) as session:
        timers = repository.claim_due(session, now, limit)
        for timer in timers:
            _fire_one(session, rt, handlers, timer, now)
        return len(timers)


def _fire_one(
    session: Session, rt: Runtime, handlers: Mapping[str, Handler], timer: Timer, now: datetime
) -> None:
    handler = handlers.get(timer.kind)
    if handler is None:
        timer.fired_at, timer.outcome = now, "no handler"
        return
    try:
        with session.begin_nested():  # one failing timer must not undo the others in the batch
            outcome = handler(session, rt, timer)
    except Exception as exc:
        log.exception("timer %s (%s) failed; will retry", timer.id, timer.kind)
        timer.due_at, timer.outcome = now + RETRY_AFTER_ERROR, f"error: {type(exc).__name__}"[:40]
        return
    timer.fired_at, timer.outcome = now, outcome[:40]


def next_due(factory: sessionmaker[Session]) -> datetime | None:
    with transaction(factory) as session:
        return repository.next_due_at(session)
