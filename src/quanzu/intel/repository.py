"""Intelligence queries: identifiers by blind index, sightings, linked cases, the ranking, and
the training examples. Which cases an actor may read comes from `cases.repository.readable`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm import Session, aliased, load_only

from quanzu.auth.actor import Actor
from quanzu.cases.repository import readable
from quanzu.codes import CaseState
from quanzu.kit.db import one_of, pairs_among
from quanzu.models.banks import BankEvent, WatchEntry
from quanzu.models.cases import Case, EarlyWarning, Person, ScamContact
from quanzu.models.intel import FraudIdentifier, FraudSighting, ScamSuggestion
from quanzu.models.org import OrgUnit


def identifier_rows(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str, datetime]]:
    """(kind, blind index) → (id, masked value, last seen) of the known ones: a batch of link
    jobs reads plain rows, no ORM objects to track."""
    wanted = set(keys)
    if not wanted:
        return {}
    stmt = select(
        FraudIdentifier.kind,
        FraudIdentifier.value_bidx,
        FraudIdentifier.id,
        FraudIdentifier.value_masked,
        FraudIdentifier.last_seen_at,
    ).where(pairs_among(session, (FraudIdentifier.kind, FraudIdentifier.value_bidx), wanted))
    rows = session.execute(stmt).all()
    return {(k, b): (i, m, at) for k, b, i, m, at in rows if (k, b) in wanted}


def identifiers_by_ids(session: Session, ids: list[int]) -> dict[int, FraudIdentifier]:
    if not ids:
        return {}
    stmt = select(FraudIdentifier).where(one_of(session, FraudIdentifier.id, ids))
    return {i.id: i for i in session.scalars(stmt)}


def warning_contacts(session: Session, warning_ids: list[int]) -> list[tuple[int, int, datetime, str, str]]:
    """(warning id, case id, received at, kind, value) of the warnings' scam contacts."""
    if not warning_ids:
        return []
    stmt = (
        select(
            EarlyWarning.id,
            EarlyWarning.case_id,
            EarlyWarning.received_at,
            ScamContact.kind,
            ScamContact.value,
        )
        .join(ScamContact, ScamContact.warning_id == EarlyWarning.id)
        .where(one_of(session, EarlyWarning.id, warning_ids))
        .order_by(EarlyWarning.id, ScamContact.id)
    )
    return [(w, c, at, k, v) for w, c, at, k, v in session.execute(stmt).all()]


def cases_by_ids(session: Session, case_ids: Iterable[int], *, named_only: bool = False) -> list[Case]:
    """`named_only`: just what a link's events and alerts say of the other cases (station, state,
    scam type), a fifth of the columns: a round links each new case to up to five others."""
    ids = list(set(case_ids))
    if not ids:
        return []
    stmt = select(Case).where(one_of(session, Case.id, ids))
    if named_only:
        stmt = stmt.options(load_only(Case.station_id, Case.state, Case.scam_type))
    return list(session.scalars(stmt))


def sightings_among(
    session: Session, case_ids: Iterable[int], identifier_ids: Iterable[int]
) -> set[tuple[int, int]]:
    """(case id, identifier id) of the sightings of these identifiers in these cases."""
    cases, ids = list(set(case_ids)), list(set(identifier_ids))
    if not cases or not ids:
        return set()
    stmt = select(FraudSighting.case_id, FraudSighting.identifier_id).where(
        one_of(session, FraudSighting.case_id, cases), one_of(session, FraudSighting.identifier_id, ids)
    )
    return {(c, i) for c, i in session.execute(stmt).all()}


def newest_sightings(
    session: Session, identifier_ids: Iterable[int], per_identifier: int
) -> set[tuple[int, int]]:
    """(case id, identifier id) of the `per_identifier` newest cases sighting each identifier, in
    one query for all of them."""
    ids = list(set(identifier_ids))
    if not ids:
        return set()
    rank = (
        func.row_number()
        .over(partition_by=FraudSighting.identifier_id, order_by=FraudSighting.case_id.desc())
        .label("rank")
    )
    ranked = (
        select(FraudSighting.case_id, FraudSighting.identifier_id, rank)
        .where(one_of(session, FraudSighting.identifier_id, ids))
        .subquery()
    )
    stmt = select(ranked.c.case_id, ranked.c.identifier_id).where(ranked.c.rank <= per_identifier)
    return {(c, i) for c, i in session.execute(stmt).all()}


def case_identifiers(session: Session, case_id: int) -> list[tuple[FraudIdentifier, FraudSighting]]:
    stmt = (
        select(FraudIdentifier, FraudSighting)
        .join(FraudSighting, FraudSighting.identifier_id == FraudIdentifier.id)
        .where(FraudSighting.case_id == case_id)
        .order_by(FraudIdentifier.kind, FraudIdentifier.id)
    )
    return [(i, s) for i, s in session.execute(stmt).all()]


def linked(
    session: Session, case_id: int, kinds: Iterable[str]
) -> list[tuple[FraudIdentifier, Case, OrgUnit | None]]:
    """Other cases sharing an identifier with this one, with their station: no person joined."""
    mine = aliased(FraudSighting)
    theirs = aliased(FraudSighting)
    stmt = (
        select(FraudIdentifier, Case, OrgUnit)
        .join(mine, and_(mine.identifier_id == FraudIdentifier.id, mine.case_id == case_id))
        .join(theirs, and_(theirs.identifier_id == FraudIdentifier.id, theirs.case_id != case_id))
        .join(Case, Case.id == theirs.case_id)
        .outerjoin(OrgUnit, OrgUnit.id == Case.station_id)
        .where(FraudIdentifier.kind.in_(list(kinds)))
        .order_by(Case.id.desc(), FraudIdentifier.id)
    )
    return [(i, c, u) for i, c, u in session.execute(stmt).all()]


def readable_ids(session: Session, actor: Actor, case_ids: Iterable[int]) -> set[int]:
    ids = list(set(case_ids))
    if not ids:
        return set()
    stmt = readable(actor).with_only_columns(Case.id).where(Case.id.in_(ids))
    return set(session.scalars(stmt))


def suggestion(session: Session, case_id: int) -> ScamSuggestion | None:
    return session.scalars(select(ScamSuggestion).where(ScamSuggestion.case_id == case_id)).first()


def descriptions(session: Session, case_id: int) -> list[str]:
    stmt = select(EarlyWarning.description).where(EarlyWarning.case_id == case_id).order_by(EarlyWarning.id)
    return [d for d in session.scalars(stmt) if d]


def age_of(session: Session, person_id: int) -> int | None:
    age: int | None = session.scalar(select(Person.age).where(Person.id == person_id))
    return age


def bank_signals(session: Session, case_id: int) -> tuple[bool, int]:
    """(on the watch list now, attempts reported by banks)."""
    watched = session.scalar(
        select(func.count())
        .select_from(WatchEntry)
        .where(WatchEntry.case_id == case_id, WatchEntry.ended_at.is_(None))
    )
    events = session.scalar(select(func.count()).select_from(BankEvent).where(BankEvent.case_id == case_id))
    return bool(watched), int(events or 0)


def ranking(
    session: Session, actor: Actor, *, kind: str | None, limit: int
) -> list[tuple[FraudIdentifier, int, int, Decimal | None, datetime, datetime]]:
    """Identifiers by victims, then money, over the whole district; a station or branch sees the
    identifiers that appear in at least one case it may read (the counts stay district-wide:
    they carry no one's PII)."""
    money = func.coalesce(Case.amount_lost, Case.amount_at_risk, literal(0))
    victims = func.count(func.distinct(Case.person_id))
    stmt = (
        select(
            FraudIdentifier,
            victims,
            func.count(func.distinct(Case.id)),
            func.sum(money),
            func.min(FraudSighting.seen_at),
            func.max(FraudSighting.seen_at),
        )
        .join(FraudSighting, FraudSighting.identifier_id == FraudIdentifier.id)
        .join(Case, Case.id == FraudSighting.case_id)
        .group_by(FraudIdentifier.id)
        .order_by(victims.desc(), func.sum(money).desc(), FraudIdentifier.id)
        .limit(limit)
    )
    if kind:
        stmt = stmt.where(FraudIdentifier.kind == kind)
    visible_cases = readable(actor).with_only_columns(Case.id)
    if not _district_wide(actor):
        seen_here = select(FraudSighting.identifier_id).where(FraudSighting.case_id.in_(visible_cases))
        stmt = stmt.where(FraudIdentifier.id.in_(seen_here))
    return [(i, v, c, m, f, la) for i, v, c, m, f, la in session.execute(stmt).all()]


def _district_wide(actor: Actor) -> bool:
    from quanzu.auth.scoping import DISTRICT_WIDE

    return actor.role in DISTRICT_WIDE


def training_examples(session: Session) -> list[tuple[str, str]]:
    """(description, type) of confirmed cases: closed as fraud with a known type, or whose type an
    officer confirmed or corrected (so corrections feed the next training)."""
    decided = select(ScamSuggestion.case_id).where(ScamSuggestion.decision.is_not(None))
    stmt = (
        select(EarlyWarning.description, Case.scam_type)
        .join(Case, Case.id == EarlyWarning.case_id)
        .where(
            Case.scam_type != "other",
            EarlyWarning.description != "",
            or_(
                and_(Case.state == CaseState.CLOSED, Case.outcome != "not_fraud"),
                Case.id.in_(decided),
            ),
        )
        .order_by(EarlyWarning.id)
    )
    return [(d, t) for d, t in session.execute(stmt).all()]
