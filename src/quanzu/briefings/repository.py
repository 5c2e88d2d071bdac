"""Briefing queries: aggregates grouped by station in SQL, plus capped detail lists. Every
statement starts from `cases.repository.readable(actor)` (narrowed to one station for a station
briefing), so the briefing shows only what its reader may read. Reports read, never write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, or_, select, union_all
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.cases.repository import readable, readable_stations
from quanzu.models.briefings import Briefing
from quanzu.models.cases import Case, CaseEvent, CaseSla, EarlyWarning
from quanzu.models.followups import FollowUpCallback
from quanzu.models.helpers import HelpRequest
from quanzu.models.review import AccountabilityNotice, CaseReview, ReviewFinding
from quanzu.models.timers import Timer

StationId = int | None
PerStation = dict[StationId, int]


@dataclass(frozen=True, slots=True)
class Window:
    """The cases a briefing may count (`scoped`), the local day as `[start, end)` in UTC, and
    `as_of`: the end of the day, or now for a day not over yet (what was overdue then). `actor`
    and `station_id` narrow rows that carry their case's station themselves (`_stations`)."""

    scoped: Select[Any]
    start: datetime
    end: datetime
    as_of: datetime
    actor: Actor
    station_id: int | None


def window(actor: Actor, station_id: int | None, start: datetime, end: datetime, as_of: datetime) -> Window:
    stmt: Select[Any] = readable(actor)
    if station_id is not None:
        stmt = stmt.where(Case.station_id == station_id)
    return Window(stmt, start, end, as_of, actor, station_id)


def _stations(w: Window, stmt: Select[Any], column: Any) -> Select[Any]:
    """`stmt` narrowed on a copy of the case's station (`column`) as `scoped` narrows cases."""
    stmt = readable_stations(stmt, column, w.actor)
    if w.station_id is not None:
        stmt = stmt.where(column == w.station_id)
    return stmt


def _cols(w: Window, *cols: Any) -> Select[Any]:
    return w.scoped.with_only_columns(*cols, maintain_column_froms=True)


def _count_if(condition: Any) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _in_day(column: Any, w: Window) -> ColumnElement[bool]:
    return and_(column >= w.start, column < w.end)


def _per_station(session: Session, stmt: Any) -> PerStation:
    return {station: int(n) for station, n in session.execute(stmt).all()}


# --- the station table -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcomes:
    cases: int
    dissuaded: int
    money_protected: Decimal | None
    lost: int
    money_lost: Decimal | None


def outcomes_by_station(session: Session, w: Window) -> dict[StationId, Outcomes]:
    """Cases opened that day and their outcomes as they stand (the KPI cohort's definitions)."""
    dissuaded, lost = Case.outcome == "dissuaded", Case.outcome == "lost"
    stmt = (
        _cols(
            w,
            Case.station_id,
            func.count(Case.id),
            _count_if(dissuaded),
            func.sum(case((dissuaded, Case.amount_protected))),
            _count_if(lost),
            func.sum(case((lost, Case.amount_lost))),
        )
        .where(_in_day(Case.opened_at, w))
        .group_by(Case.station_id)
    )
    return {row[0]: Outcomes(*row[1:]) for row in session.execute(stmt).all()}


def warnings_by_station(session: Session, w: Window) -> PerStation:
    stmt = (
        _cols(w, Case.station_id, func.count(EarlyWarning.id))
        .join(EarlyWarning, EarlyWarning.case_id == Case.id)
        .where(_in_day(EarlyWarning.received_at, w))
        .group_by(Case.station_id)
    )
    return _per_station(session, stmt)


# --- overdue items ------------------------------------------------------------------------------------


def _overdue_clocks(w: Window) -> Select[Any]:
    return (
        w.scoped.join(CaseSla, CaseSla.case_id == Case.id)
        .where(CaseSla.due_at < w.as_of)
        .where(or_(CaseSla.met_at.is_(None), CaseSla.met_at > w.as_of))
        .where(Case.opened_at < w.as_of)
        .where(or_(Case.closed_at.is_(None), Case.closed_at > w.as_of))
    )


def overdue_clocks_by_station(session: Session, w: Window) -> PerStation:
    stmt = _overdue_clocks(w).with_only_columns(Case.station_id, func.count(CaseSla.id))
    return _per_station(session, stmt.group_by(Case.station_id))


def overdue_clock_list(session: Session, w: Window, limit: int) -> list[tuple[int, StationId, str, datetime]]:
    stmt = _overdue_clocks(w).with_only_columns(Case.id, Case.station_id, CaseSla.kind, CaseSla.due_at)
    rows = session.execute(stmt.order_by(CaseSla.due_at, CaseSla.id).limit(limit)).all()
    return [(c, s, k, d) for c, s, k, d in rows]


def _overdue_callbacks(w: Window, *cols: Any) -> list[Select[Any]]:
    """Callbacks overdue at `as_of` and not recorded by then, read by their own station (kept in
    step with the case's): no probe into `cases` per callback. Two disjoint branches, each with
    its index: not recorded at all, and recorded only after `as_of` (a past day)."""
    cb = FollowUpCallback
    unrecorded = select(*cols).where(cb.done_at.is_(None), cb.overdue_at < w.as_of)
    later = select(*cols).where(cb.done_at > w.as_of, cb.overdue_at < w.as_of)
    return [_stations(w, unrecorded, cb.station_id), _stations(w, later, cb.station_id)]


def overdue_callbacks_by_station(session: Session, w: Window) -> PerStation:
    rows = union_all(*_overdue_callbacks(w, FollowUpCallback.station_id)).subquery()
    stmt = select(rows.c.station_id, func.count()).group_by(rows.c.station_id)
    return _per_station(session, stmt)


def overdue_callback_list(
    session: Session, w: Window, limit: int
) -> list[tuple[int, StationId, int, datetime, datetime]]:
    """The first `limit` by overdue time. Each branch is cut to `limit` in its own order first:
    PostgreSQL then reads the first rows of the unrecorded ones from their index and stops (it
    does not merge the branches of a UNION ALL in index order; it sorted all ~116,000)."""
    cb = FollowUpCallback
    cols = (cb.case_id, cb.station_id, cb.seq, cb.due_at, cb.overdue_at, cb.id)
    branches = [
        select(branch.order_by(cb.overdue_at, cb.id).limit(limit).subquery())
        for branch in _overdue_callbacks(w, *cols)
    ]
    rows = union_all(*branches).subquery()
    stmt = select(rows.c.case_id, rows.c.station_id, rows.c.seq, rows.c.due_at, rows.c.overdue_at)
    out = session.execute(stmt.order_by(rows.c.overdue_at, rows.c.id).limit(limit))
    return [(c, s, q, d, o) for c, s, q, d, o in out.all()]


# --- timeline events: escalations (tier climbs) and handover notes --------------------------------------


def _events(w: Window, kind: str) -> Select[Any]:
    return (
        w.scoped.join(CaseEvent, CaseEvent.case_id == Case.id)
        # Inline, so the planner can match the partial index ix_case_events_briefing_kinds.
        .where(CaseEvent.kind == bindparam("event_kind", kind, literal_execute=True))
        .where(_in_day(CaseEvent.at, w))
    )


def events_by_station(session: Session, w: Window, kind: str) -> PerStation:
    stmt = _events(w, kind).with_only_columns(Case.station_id, func.count(CaseEvent.id))
    return _per_station(session, stmt.group_by(Case.station_id))


def escalations_by_tier(session: Session, w: Window) -> dict[int, int]:
    tier = CaseEvent.data["tier"].as_integer()
    stmt = _events(w, "escalated").with_only_columns(tier, func.count(CaseEvent.id)).group_by(tier)
    return {int(t): int(n) for t, n in session.execute(stmt).all() if t is not None}


def event_list(
    session: Session, w: Window, kind: str, limit: int
) -> list[tuple[int, StationId, datetime, dict[str, Any]]]:
    stmt = _events(w, kind).with_only_columns(Case.id, Case.station_id, CaseEvent.at, CaseEvent.data)
    rows = session.execute(stmt.order_by(CaseEvent.at, CaseEvent.id).limit(limit)).all()
    return [(c, s, at, dict(data or {})) for c, s, at, data in rows]


# --- review findings -------------------------------------------------------------------------------------


def review_decisions(session: Session, w: Window) -> dict[str, int]:
    stmt = (
        _cols(w, CaseReview.state, func.count(CaseReview.id))
        .join(CaseReview, CaseReview.case_id == Case.id)
        .where(_in_day(CaseReview.decided_at, w))
        .group_by(CaseReview.state)
    )
    return {state: int(n) for state, n in session.execute(stmt).all()}


def _findings(w: Window) -> Select[Any]:
    return (
        w.scoped.join(CaseReview, CaseReview.case_id == Case.id)
        .join(ReviewFinding, ReviewFinding.review_id == CaseReview.id)
        .where(_in_day(CaseReview.decided_at, w))
    )


def findings_by_item(session: Session, w: Window) -> list[tuple[str, int, int]]:
    """(item code, findings, of which overridden) for the reviews decided that day."""
    stmt = (
        _findings(w)
        .with_only_columns(
            ReviewFinding.item_code, func.count(ReviewFinding.id), _count_if(ReviewFinding.overridden)
        )
        .group_by(ReviewFinding.item_code)
        .order_by(func.count(ReviewFinding.id).desc(), ReviewFinding.item_code)
    )
    return [(code, int(n), int(o)) for code, n, o in session.execute(stmt).all()]


def findings_by_station(session: Session, w: Window) -> PerStation:
    stmt = _findings(w).with_only_columns(Case.station_id, func.count(ReviewFinding.id))
    return _per_station(session, stmt.group_by(Case.station_id))


def _notices(w: Window) -> Select[Any]:
    return w.scoped.join(AccountabilityNotice, AccountabilityNotice.case_id == Case.id).where(
        _in_day(AccountabilityNotice.issued_at, w)
    )


def notices_issued(session: Session, w: Window) -> int:
    stmt = _notices(w).with_only_columns(func.count(AccountabilityNotice.id))
    return int(session.execute(stmt).scalar_one())


def notice_list(session: Session, w: Window, limit: int) -> list[AccountabilityNotice]:
    stmt = _notices(w).with_only_columns(AccountabilityNotice)
    return list(session.scalars(stmt.order_by(AccountabilityNotice.issued_at).limit(limit)))


# --- guard contributions (the warning race) ----------------------------------------------------------------


def help_requested(session: Session, w: Window) -> int:
    stmt = (
        _cols(w, func.count(HelpRequest.id))
        .join(HelpRequest, HelpRequest.case_id == Case.id)
        .where(_in_day(HelpRequest.requested_at, w))
    )
    return int(session.execute(stmt).scalar_one())


def _answered(w: Window) -> Select[Any]:
    return w.scoped.join(HelpRequest, HelpRequest.case_id == Case.id).where(
        _in_day(HelpRequest.answered_at, w)
    )


def answered_by_kind(session: Session, w: Window) -> list[tuple[str, int, int]]:
    """(helper kind, answers that day, of which first to reach the target)."""
    stmt = (
        _answered(w)
        .with_only_columns(
            HelpRequest.helper_kind, func.count(HelpRequest.id), _count_if(HelpRequest.first_to_reach)
        )
        .group_by(HelpRequest.helper_kind)
    )
    return [(k, int(n), int(f)) for k, n, f in session.execute(stmt).all()]


def first_reach_by_station(session: Session, w: Window) -> PerStation:
    stmt = (
        _answered(w)
        .with_only_columns(Case.station_id, func.count(HelpRequest.id))
        .where(HelpRequest.first_to_reach.is_(True))
    )
    return _per_station(session, stmt.group_by(Case.station_id))


def answer_list(session: Session, w: Window, limit: int) -> list[tuple[int, StationId, HelpRequest]]:
    stmt = _answered(w).with_only_columns(Case.id, Case.station_id, HelpRequest)
    rows = session.execute(stmt.order_by(HelpRequest.answered_at, HelpRequest.id).limit(limit)).all()
    return [(c, s, h) for c, s, h in rows]


# --- stored briefings ----------------------------------------------------------------------------------


def stored(session: Session, scope: str, day: date, *, for_update: bool = False) -> Briefing | None:
    stmt = select(Briefing).where(Briefing.scope == scope, Briefing.day == day)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def stored_list(session: Session, scopes: list[str] | None, limit: int) -> list[Briefing]:
    """Stored briefings, newest day first; `scopes` None means every scope."""
    stmt = select(Briefing)
    if scopes is not None:
        stmt = stmt.where(Briefing.scope.in_(scopes))
    return list(session.scalars(stmt.order_by(Briefing.day.desc(), Briefing.scope).limit(limit)))


def pending_timer(session: Session, kind: str, other_than: int | None = None) -> Timer | None:
    stmt = select(Timer).where(Timer.kind == kind, Timer.fired_at.is_(None))
    if other_than is not None:
        stmt = stmt.where(Timer.id != other_than)
    return session.scalars(stmt.order_by(Timer.due_at).limit(1)).first()
