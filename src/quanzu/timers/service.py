"""Durable timers: scheduled as rows in the caller's transaction, fired by the worker.

Firing claims due rows (SKIP LOCKED on PostgreSQL; SQLite's single writer serialises), runs the
kind's handler, and marks the row fired — all in one transaction, so a timer's effect happens
exactly once even with several workers or a crash in between. Handlers re-check their subject
and compare tokens: a timer planned for a state that has since changed does nothing.

A kind may also have a batch hook (`Prepare`): it sees all of the batch's timers of its kind
before any fires, to load or lock for all of them at once, and decides their order among
themselves (contact linking: one read and one lock statement per batch, warnings in id order).
It may also have a batch handler (`FireBatch`) that fires them all at once, in one savepoint, set
by set rather than timer by timer; if that fails, its work is rolled back and they fire one by
one through their handler, so one bad timer still cannot cost the others."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from quanzu.kit.db import insert_rows, savepoint, transaction, update_by_id
from quanzu.kit.runtime import Runtime
from quanzu.models.timers import Timer
from quanzu.timers import repository

log = logging.getLogger(__name__)
Handler = Callable[[Session, Runtime, Timer], str]  # returns what firing did, e.g. "acted", "stale"
# Gets the batch's timers of one kind (claim order) and returns the same timers in firing order.
Prepare = Callable[[Session, Runtime, list[Timer]], list[Timer]]
# Gets the batch's timers of one kind (firing order) and fires them all; returns each one's outcome
# by timer id (every one of them, or the batch counts as failed).
FireBatch = Callable[[Session, Runtime, list[Timer]], Mapping[int, str]]
TimerRow = tuple[str, int, datetime, str, str]  # (kind, subject_id, due_at, token, key)
RETRY_AFTER_ERROR = timedelta(seconds=30)


def new_token() -> str:
    return secrets.token_hex(8)


def schedule(
    session: Session, kind: str, subject_id: int, due_at: datetime, token: str, key: str = ""
) -> None:
    """One timer, kept back with the transaction's other rows (see `add_event`)."""
    schedule_many(session, [(kind, subject_id, due_at, token, key)])


def schedule_many(session: Session, timers: Sequence[TimerRow]) -> None:
    """(kind, subject_id, due_at, token, key) rows in one multi-row insert."""
    rows = [
        {"kind": k, "subject_id": sid, "due_at": due, "token": tok, "key": key}
        for k, sid, due, tok, key in timers
    ]
    insert_rows(session, Timer, rows)


def fire_due(
    factory: sessionmaker[Session],
    rt: Runtime,
    handlers: Mapping[str, Handler],
    limit: int = 200,
    prepare: Mapping[str, Prepare] | None = None,
    batches: Mapping[str, FireBatch] | None = None,
) -> int:
    """Fires up to `limit` due timers in one transaction; returns how many were claimed."""
    with transaction(factory) as session:
        timers = _prepared(session, rt, repository.claim_due(session, rt.clock.now(), limit), prepare or {})
        done = _fired_in_batches(session, rt, timers, batches or {})
        # The claimed rows are marked together at the end: touching them one by one would make
        # every handler's savepoint flush the previous mark (a round trip each).
        marks = [
            {"id": t.id, "fired_at": rt.clock.now(), "outcome": done[t.id][:40]}
            if t.id in done
            else _fire_one(session, rt, handlers, t)
            for t in timers
        ]
        update_by_id(session, Timer, marks)
        return len(timers)


def _prepared(
    session: Session, rt: Runtime, timers: list[Timer], prepare: Mapping[str, Prepare]
) -> list[Timer]:
    """Runs each kind's batch hook; its timers keep the places their kind had in the claim order.
    A failing hook only costs the batch its shortcut: the handlers then do their own loading."""
    out = list(timers)
    for kind, hook in prepare.items():
        places = [i for i, t in enumerate(out) if t.kind == kind]
        if not places:
            continue
        try:
            with savepoint(session):
                ordered = hook(session, rt, [out[i] for i in places])
        except Exception:
            log.exception("batch hook of %s timers failed; firing them one by one", kind)
            continue
        if sorted(t.id for t in ordered) != sorted(out[i].id for i in places):
            raise ValueError(f"the batch hook of {kind} timers must return the same timers")
        for i, timer in zip(places, ordered, strict=True):
            out[i] = timer
    return out


def _fired_in_batches(
    session: Session, rt: Runtime, timers: list[Timer], batches: Mapping[str, FireBatch]
) -> dict[int, str]:
    """The outcomes of the timers that kinds with a batch handler fired together (before the
    others: timers of different kinds do not depend on each other's order). A failed batch
    leaves its timers out, for `_fire_one`."""
    done: dict[int, str] = {}
    for kind, fire in batches.items():
        group = [t for t in timers if t.kind == kind]
        if not group:
            continue
        try:
            with savepoint(session):
                outcomes = fire(session, rt, group)
                if set(outcomes) != {t.id for t in group}:
                    raise ValueError(f"the batch handler of {kind} timers must fire every one of them")
        except Exception:
            log.exception("batch of %s %s timers failed; firing them one by one", len(group), kind)
            continue
        done.update(outcomes)
    return done


def _fire_one(session: Session, rt: Runtime, handlers: Mapping[str, Handler], timer: Timer) -> dict[str, Any]:
    handler = handlers.get(timer.kind)
    if handler is None:
        return {"id": timer.id, "fired_at": rt.clock.now(), "outcome": "no handler"}
    try:
        with savepoint(session):  # one failing timer must not undo (or half-announce) the others
            outcome = handler(session, rt, timer)
    except Exception as exc:
        log.exception("timer %s (%s) failed; will retry", timer.id, timer.kind)
        now = rt.clock.now()
        return {
            "id": timer.id,
            "due_at": now + RETRY_AFTER_ERROR,
            "outcome": f"error: {type(exc).__name__}"[:40],
        }
    return {"id": timer.id, "fired_at": rt.clock.now(), "outcome": outcome[:40]}


def next_due(factory: sessionmaker[Session]) -> datetime | None:
    with transaction(factory) as session:
        return repository.next_due_at(session)
