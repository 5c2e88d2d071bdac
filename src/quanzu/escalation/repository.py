from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from quanzu.codes import CaseState
from quanzu.models.cases import Case, CaseAssignee, CaseSla
from quanzu.models.org import OrgUnit, User


def slas(session: Session, case_id: int) -> list[CaseSla]:
    return list(session.scalars(select(CaseSla).where(CaseSla.case_id == case_id).order_by(CaseSla.due_at)))


def sla(session: Session, case_id: int, kind: str) -> CaseSla | None:
    return session.scalars(select(CaseSla).where(CaseSla.case_id == case_id, CaseSla.kind == kind)).first()


def users_with_role(session: Session, role: str, unit_ids: list[int]) -> list[User]:
    if not unit_ids:
        return []
    stmt = select(User).where(User.role == role, User.active.is_(True), User.org_unit_id.in_(unit_ids))
    return list(session.scalars(stmt.order_by(User.id)))


def station_and_teams(session: Session, station_id: int) -> list[int]:
    teams = session.scalars(select(OrgUnit.id).where(OrgUnit.parent_id == station_id)).all()
    return [station_id, *teams]


def _open_at(station_id: int) -> tuple[ColumnElement[bool], ...]:
    return Case.station_id == station_id, Case.state.in_((CaseState.DISPATCHED, CaseState.IN_PROGRESS))


def open_cases_at(session: Session, station_id: int) -> list[Case]:
    return list(session.scalars(select(Case).where(*_open_at(station_id)).order_by(Case.id)))


def active_assignees_at(session: Session, station_id: int) -> dict[int, list[CaseAssignee]]:
    """The assignees not released of every open case at the station, by case, in one query: a
    shift change goes through them all."""
    stmt = (
        select(CaseAssignee)
        .join(Case, Case.id == CaseAssignee.case_id)
        .where(*_open_at(station_id), CaseAssignee.released_at.is_(None))
        .order_by(CaseAssignee.id)
    )
    by_case: dict[int, list[CaseAssignee]] = {}
    for assignee in session.scalars(stmt):
        by_case.setdefault(assignee.case_id, []).append(assignee)
    return by_case
