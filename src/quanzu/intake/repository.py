from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    ARRAY,
    CompoundSelect,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal,
    select,
    union,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from quanzu.codes import CaseState
from quanzu.kit.db import among, is_postgres
from quanzu.models.banks import WatchEntry
from quanzu.models.cases import Case, CaseAssignee, EarlyWarning, Person


def warning_by_key(session: Session, source: str, external_id: str) -> EarlyWarning | None:
    stmt = select(EarlyWarning).where(EarlyWarning.source == source, EarlyWarning.external_id == external_id)
    return session.scalars(stmt).first()


def open_case_for(session: Session, person_id: int) -> Case | None:
    """The person's open case (at most one: the one-open-case-per-person index)."""
    is_open = select(Case).where(Case.person_id == person_id, Case.state != CaseState.CLOSED)
    return session.scalars(is_open).first()


def warnings_by_ids(session: Session, ids: Collection[int]) -> list[EarlyWarning]:
    if not ids:
        return []
    return list(session.scalars(select(EarlyWarning).where(EarlyWarning.id.in_(ids))))


def persons_matching(session: Session, id_bidx: str | None, phone_bidx: str | None) -> list[Person]:
    """`persons_with_any` for one warning's identifiers, oldest first."""
    persons, _open_cases = persons_with_any(session, [bidx for bidx in (id_bidx, phone_bidx) if bidx])
    return persons


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


def persons_with_any(
    session: Session, blind_indexes: Collection[str]
) -> tuple[list[Person], dict[int, Case]]:
    """The persons whose ID number has one of `blind_indexes`, and the newest holder of each
    phone among them (a phone alone matches no other: `intake.service._find_or_create_person`),
    oldest first; and each one's open case (by person id; at most one: the one-open-case-per-
    person index), in one round trip. The cases are not locked: a batch loads the case of every
    person its keys find, also those it will not merge into, and a lock on those would hold up
    other batches; a merge's UPDATE locks its case at the flush."""
    if not blind_indexes:
        return [], {}
    statement = _persons_with_any(is_postgres(session))
    return _with_open_cases(session, statement, {"indexes": list(blind_indexes)})


def persons_by_ids(session: Session, person_ids: Collection[int]) -> tuple[list[Person], dict[int, Case]]:
    """As `persons_with_any`, for the persons a batch's locks found (`quanzu_stored_persons`,
    revision 0024); no round trip for none."""
    if not person_ids:
        return [], {}
    return _with_open_cases(session, _persons_by_ids(is_postgres(session)), {"ids": list(person_ids)})


def _with_open_cases(
    session: Session, statement: Select[Person, Case], params: dict[str, Any]
) -> tuple[list[Person], dict[int, Case]]:
    persons: list[Person] = []
    open_cases: dict[int, Case] = {}
    for person, case in session.execute(statement, params):
        persons.append(person)
        if case is not None:
            open_cases[person.id] = case
    return persons, open_cases


def _persons_and_open_cases() -> Select[Person, Case]:
    is_open = and_(Case.person_id == Person.id, Case.state != CaseState.CLOSED)
    return select(Person, Case).outerjoin(Case, is_open).order_by(Person.id)


@functools.cache
def _persons_with_any(postgres: bool) -> Select[Person, Case]:
    return _persons_and_open_cases().where(Person.id.in_(_by_id_or_newest_by_phone(postgres)))


@functools.cache
def _persons_by_ids(postgres: bool) -> Select[Person, Case]:
    return _persons_and_open_cases().where(among(Person.id, "ids", postgres=postgres))


def _by_id_or_newest_by_phone(postgres: bool) -> CompoundSelect[int]:
    """The ids of the persons whose ID number is among `:indexes`, and of the newest holder of
    each phone among them. PostgreSQL: one step down the index on (phone, id) per phone, however
    many hold it; SQLite: the holders grouped."""
    holder = aliased(Person)
    by_id = select(holder.id).where(among(holder.id_number_bidx, "indexes", postgres=postgres))
    if not postgres:
        by_phone = holder.phone_bidx.in_(bindparam("indexes", expanding=True))
        return union(by_id, select(func.max(holder.id)).where(by_phone).group_by(holder.phone_bidx))
    phones = func.unnest(bindparam("indexes", type_=ARRAY(String(64)))).table_valued("bidx").render_derived()
    newest = aliased(Person)
    holding = select(func.max(newest.id)).where(newest.phone_bidx == phones.c.bidx).scalar_subquery()
    return union(by_id, select(holding).select_from(phones))


def assignees_and_watches(
    session: Session, case_ids: Collection[int]
) -> tuple[dict[int, list[int]], set[int]]:
    """The open cases' active assignees' user ids (in their order, as `cases.repository.assignees`
    gives them) and which of the cases have an active watch, in one round trip: what a merge
    into each case reads, where each merge read both itself (and wrote the batch's rows kept so
    far, for its queries touched their tables)."""
    if not case_ids:
        return {}, set()
    assignees: dict[int, list[int]] = {case_id: [] for case_id in case_ids}
    watched: set[int] = set()
    rows = session.execute(_assignees_and_watches(is_postgres(session)), {"cases": list(case_ids)})
    for case_id, is_watch, ref, _position, _id in rows:
        if is_watch:
            watched.add(case_id)
        else:
            assignees[case_id].append(ref)
    return assignees, watched


@functools.cache
def _assignees_and_watches(postgres: bool) -> CompoundSelect[int, bool, int, str, int]:
    assigned = select(
        CaseAssignee.case_id,
        literal(False).label("is_watch"),
        CaseAssignee.user_id.label("ref"),
        CaseAssignee.position,
        CaseAssignee.id,
    ).where(among(CaseAssignee.case_id, "cases", postgres=postgres), CaseAssignee.released_at.is_(None))
    watching = select(WatchEntry.case_id, literal(True), WatchEntry.id, literal(""), WatchEntry.id).where(
        among(WatchEntry.case_id, "cases", postgres=postgres), WatchEntry.ended_at.is_(None)
    )
    union = union_all(assigned, watching)
    return union.order_by(union.selected_columns[0], union.selected_columns[3], union.selected_columns[4])
