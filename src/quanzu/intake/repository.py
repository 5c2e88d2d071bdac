from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session

from quanzu.codes import CaseState
from quanzu.kit.db import one_of
from quanzu.models.cases import Case, EarlyWarning, Person


def warning_by_key(session: Session, source: str, external_id: str) -> EarlyWarning | None:
    stmt = select(EarlyWarning).where(EarlyWarning.source == source, EarlyWarning.external_id == external_id)
    return session.scalars(stmt).first()


def open_case_for(session: Session, person_ids: list[int]) -> Case | None:
    stmt = select(Case).where(one_of(session, Case.person_id, person_ids), Case.state != CaseState.CLOSED)
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


def warnings_by_keys(session: Session, keys: Collection[tuple[str, str]]) -> list[EarlyWarning]:
    """The stored warnings among `(source, external_id)` keys, in one round trip."""
    if not keys:
        return []
    stmt = select(EarlyWarning).where(tuple_(EarlyWarning.source, EarlyWarning.external_id).in_(list(keys)))
    return list(session.scalars(stmt))


def persons_with_any(session: Session, blind_indexes: Collection[str]) -> list[Person]:
    """The persons whose ID number or phone has one of `blind_indexes`, in one round trip."""
    if not blind_indexes:
        return []
    wanted = list(blind_indexes)
    by_id, by_phone = Person.id_number_bidx, Person.phone_bidx
    stmt = select(Person).where(or_(one_of(session, by_id, wanted), one_of(session, by_phone, wanted)))
    return list(session.scalars(stmt))
