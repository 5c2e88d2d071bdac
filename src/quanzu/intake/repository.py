from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from quanzu.codes import CaseState
from quanzu.models.cases import Case, EarlyWarning, Person


def warning_by_key(session: Session, source: str, external_id: str) -> EarlyWarning | None:
    stmt = select(EarlyWarning).where(EarlyWarning.source == source, EarlyWarning.external_id == external_id)
    return session.scalars(stmt).first()


def open_case_for(session: Session, person_ids: list[int]) -> Case | None:
    stmt = select(Case).where(Case.person_id.in_(person_ids), Case.state != CaseState.CLOSED)
    return session.scalars(stmt.order_by(Case.id)).first()


def persons_matching(session: Session, id_bidx: str | None, phone_bidx: str | None) -> list[Person]:
    clauses = []
    if id_bidx:
        clauses.append(Person.id_number_bidx == id_bidx)
    if phone_bidx:
        clauses.append(Person.phone_bidx == phone_bidx)
    if not clauses:
        return []
    return list(session.scalars(select(Person).where(or_(*clauses)).order_by(Person.id)))
