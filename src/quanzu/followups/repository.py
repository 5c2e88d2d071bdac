"""Follow-up, awakening-room and protective-action queries. Whose cases an actor may see comes
from `cases.repository.readable`, the one scoping place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.cases.repository import readable
from quanzu.codes import CaseState
from quanzu.kit.db import is_postgres
from quanzu.models.cases import Case
from quanzu.models.followups import AwakeningSession, FollowUpCallback, FollowUpPlan, ProtectiveAction


def plan_of(session: Session, case_id: int) -> FollowUpPlan | None:
    return session.scalars(select(FollowUpPlan).where(FollowUpPlan.case_id == case_id)).first()


def callbacks_of(session: Session, plan_id: int) -> list[FollowUpCallback]:
    stmt = select(FollowUpCallback).where(FollowUpCallback.plan_id == plan_id)
    return list(session.scalars(stmt.order_by(FollowUpCallback.seq)))


def move_callbacks(session: Session, case_id: int, station_id: int) -> None:
    """The case's callbacks follow it to another station (they keep the case's station)."""
    stmt = update(FollowUpCallback).where(FollowUpCallback.case_id == case_id).values(station_id=station_id)
    session.execute(stmt.execution_options(synchronize_session="fetch"))


def callback(session: Session, callback_id: int, *, for_update: bool = False) -> FollowUpCallback | None:
    stmt = select(FollowUpCallback).where(FollowUpCallback.id == callback_id)
    if for_update and is_postgres(session):
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def closed_case_under_follow_up(session: Session, person_id: int) -> Case | None:
    """The person's closed case whose follow-up plan is still running (intake merges into it).
    One query through the partial index on active plans."""
    stmt = (
        select(Case)
        .join(FollowUpPlan, FollowUpPlan.case_id == Case.id)
        .where(
            FollowUpPlan.person_id == person_id,
            FollowUpPlan.ended_at.is_(None),
            Case.state == CaseState.CLOSED,
        )
        .order_by(Case.id.desc())
    )
    return session.scalars(stmt).first()


def other_open_case(session: Session, person_id: int, case_id: int) -> Case | None:
    stmt = select(Case).where(Case.person_id == person_id, Case.id != case_id, Case.state != CaseState.CLOSED)
    return session.scalars(stmt.order_by(Case.id)).first()


def due_callbacks(
    session: Session, actor: Actor, until: datetime, *, officer_id: int | None = None, limit: int = 200
) -> list[tuple[FollowUpCallback, Case, FollowUpPlan]]:
    """Callbacks not yet recorded and due by `until` (overdue ones first, by due time), of the
    cases the actor may read."""
    stmt = (
        readable(actor)
        .add_columns(FollowUpCallback, FollowUpPlan)
        .join(FollowUpCallback, FollowUpCallback.case_id == Case.id)
        .join(FollowUpPlan, FollowUpPlan.id == FollowUpCallback.plan_id)
        .where(FollowUpCallback.done_at.is_(None), FollowUpCallback.due_at <= until)
    )
    if officer_id is not None:
        stmt = stmt.where(FollowUpPlan.officer_id == officer_id)
    stmt = stmt.order_by(FollowUpCallback.overdue_at, FollowUpCallback.due_at, FollowUpCallback.id)
    return [(cb, c, p) for c, cb, p in session.execute(stmt.limit(limit)).all()]


def awakening_sessions(session: Session, case_id: int) -> list[AwakeningSession]:
    stmt = select(AwakeningSession).where(AwakeningSession.case_id == case_id)
    return list(session.scalars(stmt.order_by(AwakeningSession.scheduled_at, AwakeningSession.id)))


def awakening_session(session: Session, case_id: int, session_id: int) -> AwakeningSession | None:
    stmt = select(AwakeningSession).where(
        AwakeningSession.id == session_id, AwakeningSession.case_id == case_id
    )
    return session.scalars(stmt).first()


def protective_actions(session: Session, case_id: int) -> list[ProtectiveAction]:
    stmt = select(ProtectiveAction).where(ProtectiveAction.case_id == case_id)
    return list(session.scalars(stmt.order_by(ProtectiveAction.id)))
