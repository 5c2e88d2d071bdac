"""Writing the case timeline (append-only `case_events`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.kit.db import insert_rows
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case, CaseEvent

Event = tuple[Case, str, dict[str, Any]]  # (case, kind, data)


def add_event(session: Session, rt: Runtime, case: Case, kind: str, actor: Actor, **data: object) -> None:
    """One event, kept back with the transaction's others (`insert_rows`): as an object it made
    the next flush write every row kept back so far, once per warning of a group commit."""
    add_events(session, rt, actor, [(case, kind, data)])


def add_events(session: Session, rt: Runtime, actor: Actor, events: Iterable[Event]) -> None:
    """Many (case, kind, data) events in one insert, in order (a batch of link jobs writes
    hundreds)."""
    now = rt.clock.now()
    rows = [{"case_id": c.id, "at": now, "kind": k, "actor": actor.label, "data": d} for c, k, d in events]
    insert_rows(session, CaseEvent, rows)
