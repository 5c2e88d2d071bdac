"""Review, notice, training and assessment queries. What an actor may see of cases always starts
from `cases.repository.readable(actor)`; whose people records follow `auth.scoping.people_scope`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from quanzu.auth.actor import Actor
from quanzu.auth.scoping import PeopleScope
from quanzu.cases.repository import readable
from quanzu.kit.db import is_postgres
from quanzu.models.cases import Case, CaseStep, Person
from quanzu.models.followups import FollowUpCallback
from quanzu.models.org import OrgUnit, User
from quanzu.models.review import AccountabilityNotice, CaseReview, ReviewFinding, TrainingRecord
from quanzu.reports.repository import Cohort

# --- reviews --------------------------------------------------------------------------------------


def queued_of_case(session: Session, case_id: int) -> CaseReview | None:
    stmt = select(CaseReview).where(CaseReview.case_id == case_id, CaseReview.state == "queued")
    return session.scalars(stmt.order_by(CaseReview.id.desc())).first()


def readable_reviews(
    actor: Actor,
    *,
    state: str | None = None,
    station_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[Any]:
    """(Case, CaseReview, masked name) rows of the reviews of cases the actor may read."""
    stmt = (
        readable(actor)
        .join(CaseReview, CaseReview.case_id == Case.id)
        .join(Person, Person.id == Case.person_id)
        .add_columns(CaseReview, Person.name_masked)
    )
    if state is not None:
        stmt = stmt.where(CaseReview.state == state)
    if station_id is not None:
        stmt = stmt.where(CaseReview.station_id == station_id)
    if start is not None:
        stmt = stmt.where(CaseReview.closed_at >= start)
    if end is not None:
        stmt = stmt.where(CaseReview.closed_at < end)
    return stmt


def reviews(session: Session, stmt: Select[Any], limit: int = 200) -> list[tuple[Case, CaseReview, str]]:
    ordered = stmt.order_by(CaseReview.closed_at, CaseReview.id).limit(limit)
    return [(c, r, n) for c, r, n in session.execute(ordered).all()]


def review(
    session: Session, actor: Actor, review_id: int, *, for_update: bool = False
) -> tuple[Case, CaseReview, str] | None:
    stmt = readable_reviews(actor).where(CaseReview.id == review_id)
    if for_update and is_postgres(session):
        stmt = stmt.with_for_update(of=CaseReview)
    row = session.execute(stmt).first()
    return None if row is None else (row[0], row[1], row[2])


def notices_by_review(session: Session, review_ids: list[int]) -> dict[int, int]:
    if not review_ids:
        return {}
    stmt = select(AccountabilityNotice.review_id, AccountabilityNotice.id).where(
        AccountabilityNotice.review_id.in_(review_ids)
    )
    return {r: n for r, n in session.execute(stmt).all()}


# --- notices --------------------------------------------------------------------------------------


def readable_notices(actor: Actor, *, state: str | None = None) -> Select[Any]:
    stmt = readable(actor).join(AccountabilityNotice, AccountabilityNotice.case_id == Case.id)
    stmt = stmt.with_only_columns(AccountabilityNotice, maintain_column_froms=True)
    if state is not None:
        stmt = stmt.where(AccountabilityNotice.state == state)
    return stmt


def notices(session: Session, stmt: Select[Any], limit: int = 200) -> list[AccountabilityNotice]:
    ordered = stmt.order_by(AccountabilityNotice.issued_at.desc(), AccountabilityNotice.id.desc())
    return list(session.scalars(ordered.limit(limit)))


def notice(
    session: Session, notice_id: int, *, actor: Actor | None = None, for_update: bool = False
) -> AccountabilityNotice | None:
    """One notice; with `actor`, only if the actor may read its case."""
    stmt: Select[Any] = (select(AccountabilityNotice) if actor is None else readable_notices(actor)).where(
        AccountabilityNotice.id == notice_id
    )
    if for_update and is_postgres(session):
        stmt = stmt.with_for_update(of=AccountabilityNotice)
    return session.scalars(stmt).first()


# --- scorecards -------------------------------------------------------------------------------------


def _columns(stmt: Select[Any], *cols: Any) -> Select[Any]:
    return stmt.with_only_columns(*cols, maintain_column_froms=True)


def review_counts(session: Session, cohort: Cohort) -> dict[tuple[int | None, str], int]:
    """(station, review state) → reviews of the cohort's cases."""
    stmt = (
        _columns(cohort.cases, CaseReview.station_id, CaseReview.state, func.count(CaseReview.id))
        .join(CaseReview, CaseReview.case_id == Case.id)
        .group_by(CaseReview.station_id, CaseReview.state)
    )
    return {(s, st): n for s, st, n in session.execute(stmt).all()}


def finding_counts(session: Session, cohort: Cohort) -> dict[tuple[int | None, str], int]:
    """(station, item code) → findings on the cohort's cases."""
    stmt = (
        _columns(
            cohort.cases, ReviewFinding.station_id, ReviewFinding.item_code, func.count(ReviewFinding.id)
        )
        .join(ReviewFinding, ReviewFinding.case_id == Case.id)
        .group_by(ReviewFinding.station_id, ReviewFinding.item_code)
    )
    return {(s, code): n for s, code, n in session.execute(stmt).all()}


def notice_counts(session: Session, cohort: Cohort) -> dict[tuple[int, str], int]:
    stmt = (
        _columns(
            cohort.cases,
            AccountabilityNotice.station_id,
            AccountabilityNotice.state,
            func.count(AccountabilityNotice.id),
        )
        .join(AccountabilityNotice, AccountabilityNotice.case_id == Case.id)
        .group_by(AccountabilityNotice.station_id, AccountabilityNotice.state)
    )
    return {(s, st): n for s, st, n in session.execute(stmt).all()}


def findings_total(session: Session, cohort: Cohort) -> int:
    stmt = _columns(cohort.cases, func.count(ReviewFinding.id)).join(
        ReviewFinding, ReviewFinding.case_id == Case.id
    )
    return int(session.execute(stmt).scalar_one() or 0)


def handled_by(cohort: Cohort, user_id: int) -> Cohort:
    """The cohort narrowed to the cases this person handled: recorded a step on (signed, called,
    searched, met, closed with feedback). Being notified or rostered alone does not count."""
    mine = select(CaseStep.case_id).where(CaseStep.actor.like(f"user:{user_id}:%"))
    return Cohort(cohort.scoped.where(Case.id.in_(mine)), cohort.start, cohort.end)


# --- people and training -----------------------------------------------------------------------------


def people(session: Session, scope: PeopleScope, *, roles: tuple[str, ...]) -> list[tuple[User, OrgUnit]]:
    unit = aliased(OrgUnit)
    parent = aliased(OrgUnit)
    stmt = (
        select(User, unit)
        .join(unit, unit.id == User.org_unit_id)
        .outerjoin(parent, parent.id == unit.parent_id)
        .where(User.active.is_(True), User.role.in_(roles))
    )
    if scope.user_id is not None:
        stmt = stmt.where(User.id == scope.user_id)
    elif scope.station_id is not None:
        stmt = stmt.where((unit.id == scope.station_id) | (unit.parent_id == scope.station_id))
    elif scope.branch_id is not None:
        stmt = stmt.where((unit.parent_id == scope.branch_id) | (parent.parent_id == scope.branch_id))
    return [(u, o) for u, o in session.execute(stmt.order_by(unit.code, User.username)).all()]


def training_of(session: Session, user_ids: list[int]) -> list[TrainingRecord]:
    if not user_ids:
        return []
    stmt = select(TrainingRecord).where(TrainingRecord.user_id.in_(user_ids))
    return list(session.scalars(stmt.order_by(TrainingRecord.taken_on.desc(), TrainingRecord.id.desc())))


# --- exports -----------------------------------------------------------------------------------------


def export_cases(session: Session, actor: Actor, start: datetime, end: datetime) -> list[tuple[Case, Person]]:
    stmt = (
        readable(actor)
        .join(Person, Person.id == Case.person_id)
        .add_columns(Person)
        .where(Case.opened_at >= start, Case.opened_at < end)
        .order_by(Case.opened_at, Case.id)
    )
    return [(c, p) for c, p in session.execute(stmt).all()]


def export_followups(
    session: Session, actor: Actor, start: datetime, end: datetime
) -> list[tuple[FollowUpCallback, str | None]]:
    """Follow-up callbacks due in `[start, end)` on cases the actor may read, with the station name."""
    station = aliased(OrgUnit)
    stmt = (
        readable(actor)
        .join(FollowUpCallback, FollowUpCallback.case_id == Case.id)
        .outerjoin(station, station.id == Case.station_id)
        .with_only_columns(FollowUpCallback, station.name, maintain_column_froms=True)
        .where(FollowUpCallback.due_at >= start, FollowUpCallback.due_at < end)
        .order_by(FollowUpCallback.due_at, FollowUpCallback.id)
    )
    return [(cb, name) for cb, name in session.execute(stmt).all()]
