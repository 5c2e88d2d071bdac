"""Writing the case timeline (append-only `case_events`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.kit.runtime import Runtime
from quanzu.models.cases import Case, CaseEvent


def add_event(session: Session, rt: Runtime, case: Case, kind: str, actor: Actor, **data: object) -> None:
    session.add(CaseEvent(case_id=case.id, at=rt.clock.now(), kind=kind, actor=actor.label, data=data))
