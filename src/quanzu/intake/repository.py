from __future__ import annotations

import functools
from collections.abc import Collection

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from quanzu.codes import CaseState
from quanzu.kit.db import among, is_postgres
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
    found = session.scalars(_open_cases_of(is_postgres(session)), {"persons": list(person_ids)})
    return {case.person_id: case for case in found}


@functools.cache
def _open_cases_of(postgres: bool) -> Select[Case]:
    return select(Case).where(
        among(Case.person_id, "persons", postgres=postgres), Case.state != CaseState.CLOSED
    )


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
    """The stored warnings among `(source, external_id)` keys, in one round trip: the sources
    among the keys' and the external ids among theirs (a superset; the pairs are kept here)."""
    wanted = set(keys)
    if not wanted:
        return []
    params = {"sources": list({s for s, _e in wanted}), "external_ids": list({e for _s, e in wanted})}
    found = session.scalars(_warnings_among(is_postgres(session)), params)
    return [w for w in found if (w.source, w.external_id) in wanted]


@functools.cache
def _warnings_among(postgres: bool) -> Select[EarlyWarning]:
    return select(EarlyWarning).where(
        among(EarlyWarning.source, "sources", postgres=postgres),
        among(EarlyWarning.external_id, "external_ids", postgres=postgres),
    )


def persons_with_any(session: Session, blind_indexes: Collection[str]) -> list[Person]:
    """The persons whose ID number or phone has one of `blind_indexes`, in one round trip."""
    if not blind_indexes:
        return []
    return list(session.scalars(_persons_with_any(is_postgres(session)), {"indexes": list(blind_indexes)}))


@functools.cache
def _persons_with_any(postgres: bool) -> Select[Person]:
    by_id = among(Person.id_number_bidx, "indexes", postgres=postgres)
    return select(Person).where(or_(by_id, among(Person.phone_bidx, "indexes", postgres=postgres)))
