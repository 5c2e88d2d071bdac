from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from quanzu.models.cases import CaseAssignee, CaseStep, ReverseCheckEntry


def steps(session: Session, case_id: int) -> list[CaseStep]:
    stmt = select(CaseStep).where(CaseStep.case_id == case_id).order_by(CaseStep.started_at, CaseStep.id)
    return list(session.scalars(stmt))


def open_step(session: Session, case_id: int, kind: str) -> CaseStep | None:
    """The step of this kind that was started and not yet finished (parallel tracks)."""
    stmt = select(CaseStep).where(
        CaseStep.case_id == case_id, CaseStep.kind == kind, CaseStep.ended_at.is_(None)
    )
    return session.scalars(stmt.order_by(CaseStep.id.desc())).first()


def active_assignment(session: Session, case_id: int, user_id: int) -> CaseAssignee | None:
    stmt = select(CaseAssignee).where(
        CaseAssignee.case_id == case_id, CaseAssignee.user_id == user_id, CaseAssignee.released_at.is_(None)
    )
    return session.scalars(stmt).first()


def active_assignees(session: Session, case_id: int) -> list[CaseAssignee]:
    stmt = select(CaseAssignee).where(CaseAssignee.case_id == case_id, CaseAssignee.released_at.is_(None))
    return list(session.scalars(stmt.order_by(CaseAssignee.id)))


def reverse_check(session: Session, case_id: int) -> list[ReverseCheckEntry]:
    stmt = (
        select(ReverseCheckEntry).where(ReverseCheckEntry.case_id == case_id).order_by(ReverseCheckEntry.id)
    )
    return list(session.scalars(stmt))
