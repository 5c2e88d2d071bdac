"""Queries of the social-forces domain. Which cases an actor may touch is decided by
`cases.repository.readable` alone; this module only narrows what it returns."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, or_, select
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.cases.repository import readable
from quanzu.kit.db import is_postgres
from quanzu.models.cases import Case
from quanzu.models.dispatch import ChannelEndpointRow, OutboxMessage
from quanzu.models.helpers import Guard, HelpRequest, PersonContact

REACHED_ANSWERS = ("reached_stopped", "reached_not_convinced")


# --- guards --------------------------------------------------------------------------------------


def distinct_employer_keys(session: Session) -> list[str]:
    stmt = (
        select(Guard.employer_key).where(Guard.active.is_(True), Guard.employer_key.is_not(None)).distinct()
    )
    return [k for k in session.scalars(stmt) if k]


def distinct_community_keys(session: Session) -> list[str]:
    stmt = (
        select(Guard.community_key).where(Guard.active.is_(True), Guard.community_key.is_not(None)).distinct()
    )
    return [k for k in session.scalars(stmt) if k]


def guards_matching(
    session: Session, employer_keys: list[str], community_keys: list[str], *, limit: int = 500
) -> list[Guard]:
    """Active guards of the given employers or communities; ready ones (trained, consented) first,
    so a 3,000-guard enterprise does not crowd out its best-prepared people."""
    clauses = []
    if employer_keys:
        clauses.append(Guard.employer_key.in_(employer_keys))
    if community_keys:
        clauses.append(Guard.community_key.in_(community_keys))
    if not clauses:
        return []
    stmt = (
        select(Guard)
        .where(Guard.active.is_(True), or_(*clauses))
        .order_by(Guard.trained.desc(), Guard.consented.desc(), Guard.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def guards_by_phone_bidx(session: Session, bidxs: Iterable[str]) -> dict[str, Guard]:
    wanted = list(set(bidxs))
    found: dict[str, Guard] = {}
    for start in range(0, len(wanted), 900):  # stay under SQLite's bound-parameter limit
        chunk = wanted[start : start + 900]
        found.update(
            {g.phone_bidx: g for g in session.scalars(select(Guard).where(Guard.phone_bidx.in_(chunk)))}
        )
    return found


def existing_phone_bidxs(session: Session) -> set[str]:
    return set(session.scalars(select(Guard.phone_bidx)))


def insert_guards(session: Session, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 1000):
        session.execute(insert(Guard), rows[start : start + 1000])


def guard_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Guard)) or 0


# --- contacts ------------------------------------------------------------------------------------


def contacts_of(session: Session, person_id: int) -> list[PersonContact]:
    stmt = select(PersonContact).where(PersonContact.person_id == person_id).order_by(PersonContact.id)
    return list(session.scalars(stmt))


def contact(session: Session, person_id: int, phone_bidx: str) -> PersonContact | None:
    stmt = select(PersonContact).where(
        PersonContact.person_id == person_id, PersonContact.phone_bidx == phone_bidx
    )
    return session.scalars(stmt).first()


# --- help requests -------------------------------------------------------------------------------


def requests_of(session: Session, case_id: int) -> list[tuple[HelpRequest, OutboxMessage | None]]:
    stmt = (
        select(HelpRequest, OutboxMessage)
        .outerjoin(OutboxMessage, OutboxMessage.id == HelpRequest.outbox_id)
        .where(HelpRequest.case_id == case_id)
        .order_by(HelpRequest.id)
    )
    return [(r, o) for r, o in session.execute(stmt).all()]


def request_by_token_hash(
    session: Session, token_hash: str, *, for_update: bool = False
) -> HelpRequest | None:
    stmt = select(HelpRequest).where(HelpRequest.token_hash == token_hash)
    if for_update and is_postgres(session):
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def case_for_update(session: Session, case_id: int) -> Case | None:
    """The race is decided under the case's row lock (PostgreSQL; SQLite serialises writers)."""
    stmt = select(Case).where(Case.id == case_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def first_reach(session: Session, case_id: int) -> HelpRequest | None:
    stmt = select(HelpRequest).where(HelpRequest.case_id == case_id, HelpRequest.first_to_reach.is_(True))
    return session.scalars(stmt).first()


def open_requests(session: Session, case_id: int, now: datetime) -> list[HelpRequest]:
    stmt = select(HelpRequest).where(
        HelpRequest.case_id == case_id, HelpRequest.answered_at.is_(None), HelpRequest.expires_at > now
    )
    return list(session.scalars(stmt))


def leaderboard(
    session: Session, actor: Actor, since: datetime | None, until: datetime | None, limit: int
) -> list[tuple[Any, ...]]:
    """Per guard: requests, answers, reaches and first reaches on the cases the actor may read."""
    reached = HelpRequest.answer.in_(REACHED_ANSWERS)
    stmt = (
        select(
            Guard,
            func.count(HelpRequest.id).label("requests"),
            func.count(HelpRequest.answered_at).label("answered"),
            func.sum(case((reached, 1), else_=0)).label("reached"),
            func.sum(case((HelpRequest.answer == "reached_stopped", 1), else_=0)).label("stopped"),
            func.sum(case((HelpRequest.first_to_reach.is_(True), 1), else_=0)).label("first"),
        )
        .join(HelpRequest, HelpRequest.guard_id == Guard.id)
        .where(HelpRequest.case_id.in_(readable(actor).with_only_columns(Case.id)))
        .group_by(Guard.id)
    )
    if since is not None:
        stmt = stmt.where(HelpRequest.requested_at >= since)
    if until is not None:
        stmt = stmt.where(HelpRequest.requested_at < until)
    stmt = stmt.order_by(
        func.sum(case((HelpRequest.first_to_reach.is_(True), 1), else_=0)).desc(),
        func.sum(case((reached, 1), else_=0)).desc(),
        func.count(HelpRequest.answered_at).desc(),
        Guard.id,
    ).limit(limit)
    return [tuple(row) for row in session.execute(stmt).all()]


# --- the SMS endpoint ----------------------------------------------------------------------------


def sms_endpoint(session: Session, unit_id: int) -> ChannelEndpointRow | None:
    stmt = select(ChannelEndpointRow).where(
        ChannelEndpointRow.org_unit_id == unit_id, ChannelEndpointRow.kind == "sms"
    )
    return session.scalars(stmt.order_by(ChannelEndpointRow.id)).first()
