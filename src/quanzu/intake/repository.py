from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from quanzu.codes import CaseState
from quanzu.kit.db import one_of, pairs_among
from quanzu.models.cases import Case, EarlyWarning, Person


def warning_by_key(session: Session, source: str, external_id: str) -> EarlyWarning | None:
    stmt = select(EarlyWarning).where(EarlyWarning.source == source, EarlyWarning.external_id == external_id)
    return session.scalars(stmt).first()


def open_case_for(session: Session, person_id: int) -> Case | None:
    return open_cases_of(session, [person_id]).get(person_id)


def open_cases_of(session: Session, person_ids: Collection[int]) -> dict[int, Case]:
    """Each person's open case (at most one: the one-open-case-per-person index), in one round
    trip. Not locked: a batch loads the cases of every stored person its keys find, also those
    it will not merge into (a phone's earlier holder), and a lock on those would hold up other
    batches; a merge's UPDATE locks its case at the flush, as it always did."""
    if not person_ids:
        return {}
    stmt = select(Case).where(
        one_of(session, Case.person_id, list(person_ids)), Case.state != CaseState.CLOSED
    )
    return {case.person_id: case for case in session.scalars(stmt)}


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
    wanted = set(keys)
    if not wanted:
        return []
    stmt = select(EarlyWarning).where(
        pairs_among(session, (EarlyWarning.source, EarlyWarning.external_id), wanted)
    )
    return [w for w in session.scalars(stmt) if (w.source, w.external_id) in wanted]


def persons_with_any(session: Session, blind_indexes: Collection[str]) -> list[Person]:
    """The persons whose ID number or phone has one of `blind_indexes`, in one round trip."""
    if not blind_indexes:
        return []
    wanted = list(blind_indexes)
    by_id, by_phone = Person.id_number_bidx, Person.phone_bidx
    stmt = select(Person).where(or_(one_of(session, by_id, wanted), one_of(session, by_phone, wanted)))
    return list(session.scalars(stmt))
