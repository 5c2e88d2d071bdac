"""Per-process caches of the organisation for the hot path (intake, dispatch).

`OrgCache`: units, the routing rules and the outbound endpoints. Rebuilt at most every minute,
and at once after an import in this process; another process's edit shows up within that minute.

`RosterCache`: who is on duty, and who the centre staff are (they hear what no station takes).
Every station's shifts over ten minutes of the business clock and the centre staff, read once per
span (two queries), so dispatching a warning no longer queries the roster for its station. A
roster edit made through Quanzu (a shift added or removed, a user added, removed, activated,
deactivated or given another role) empties it when it commits: in this process at once, in the
others when PostgreSQL's NOTIFY reaches their listener (a listener back from a lost connection
empties it too). A transaction with roster edits of its own pending reads the database."""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, SessionTransaction

from quanzu.codes import OrgKind
from quanzu.kit.db import after_commit, notify_at_commit
from quanzu.kit.listener import PgListener
from quanzu.models.org import DutyShift, User
from quanzu.org import repository
from quanzu.routing.rules import AreaRule, RoutingRules

MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Unit:
    id: int
    kind: str
    code: str
    name: str
    parent_id: int | None
    phone: str | None = None  # the unit's duty number, given to banks on a screening hit


@dataclass(frozen=True, slots=True)
class OrgSnapshot:
    units: dict[int, Unit]
    by_code: dict[str, Unit]
    children: dict[int, list[Unit]]
    centre: Unit | None
    rules: RoutingRules
    endpoint_ids: dict[int, list[int]] = field(default_factory=dict)  # active endpoints per unit

    def station(self, code: str | None) -> Unit | None:
        unit = self.by_code.get(code or "")
        return unit if unit is not None and unit.kind == OrgKind.STATION else None

    def with_children(self, unit_id: int | None) -> list[int]:
        if unit_id is None:
            return []
        return [unit_id, *(c.id for c in self.children.get(unit_id, []))]

    def endpoints_of(self, unit_ids: list[int]) -> list[int]:
        return [e for u in unit_ids for e in self.endpoint_ids.get(u, [])]


class OrgCache:
    def __init__(self) -> None:
        self._snapshot: OrgSnapshot | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self, session: Session) -> OrgSnapshot:
        with self._lock:
            stale = time.monotonic() - self._loaded_at >= MAX_AGE_SECONDS
            if self._snapshot is None or stale:
                self._snapshot = load_snapshot(session)
                self._loaded_at = time.monotonic()
            return self._snapshot

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None


def load_snapshot(session: Session) -> OrgSnapshot:
    units = {
        u.id: Unit(u.id, u.kind, u.code, u.name, u.parent_id, u.phone) for u in repository.all_units(session)
    }
    children: dict[int, list[Unit]] = {}
    for unit in units.values():
        if unit.parent_id is not None:
            children.setdefault(unit.parent_id, []).append(unit)
    centre_row = repository.centre(session)
    settings = centre_row.settings if centre_row else {}
    areas = tuple(
        AreaRule(station_code=code, name=area.name, level=area.level, aliases=tuple(area.aliases or ()))
        for area, code in repository.all_areas(session)
    )
    rules = RoutingRules(
        province=settings.get("province", ""),
        city=settings.get("city", ""),
        district=settings.get("district", ""),
        areas=areas,
        phone_fallback_station=settings.get("phone_fallback_station"),
        phone_home_areas=tuple(settings.get("phone_home_areas", ())),
    )
    endpoint_ids: dict[int, list[int]] = {}
    for ep in repository.active_endpoints(session):
        if ep.kind == "sms":  # addressed to one person at a time (dispatch.send_to_person), never a unit
            continue
        endpoint_ids.setdefault(ep.org_unit_id, []).append(ep.id)
    return OrgSnapshot(
        units=units,
        by_code={u.code: u for u in units.values()},
        children=children,
        centre=units.get(centre_row.id) if centre_row else None,
        rules=rules,
        endpoint_ids=endpoint_ids,
    )


# --- who is on duty ------------------------------------------------------------------------------

ROSTER_CHANNEL = "quanzu_roster"
ROSTER_SPAN = timedelta(minutes=10)
_EDITED = "quanzu.org.roster_edited"  # session.info: this transaction changed the roster
_CACHES: weakref.WeakSet[RosterCache] = weakref.WeakSet()  # this process's, to empty on an edit


@dataclass(frozen=True, slots=True)
class _Span:
    """The shifts overlapping `[start, end)`: complete for any moment in it."""

    start: datetime
    end: datetime
    shifts: dict[int, list[tuple[int, str, datetime, datetime]]]  # station → (user, position, from, to)
    centre_staff: tuple[int, ...]  # the active centre staff, who hear what no station takes (triage)

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def on_duty(self, station_id: int, at: datetime) -> list[tuple[int, str]]:
        """As `repository.on_duty`: leader first, then by user id."""
        shifts = self.shifts.get(station_id, [])
        rostered = [(user, position) for user, position, start, end in shifts if start <= at < end]
        return sorted(rostered, key=lambda r: (r[1], r[0]))


class RosterCache:
    def __init__(self) -> None:
        self._span: _Span | None = None
        self._generation = 0  # an edit's commit bumps it: a read begun before is not kept
        self._lock = threading.Lock()
        _CACHES.add(self)

    def on_duty(self, session: Session, station_id: int, at: datetime) -> list[tuple[int, str]]:
        if _edited_here(session):
            return repository.on_duty(session, station_id, at)  # its autoflush announces a pending edit
        return self._span_at(session, at).on_duty(station_id, at)

    def centre_staff(self, session: Session, at: datetime) -> list[int]:
        if _edited_here(session):
            return repository.centre_staff(session)
        return list(self._span_at(session, at).centre_staff)  # a copy: callers may extend it

    def _span_at(self, session: Session, at: datetime) -> _Span:
        span = self._span
        return span if span is not None and span.covers(at) else self._read(session, at)

    def _read(self, session: Session, at: datetime) -> _Span:
        generation = self._generation
        shifts: dict[int, list[tuple[int, str, datetime, datetime]]] = {}
        for station_id, user_id, position, start, end in repository.rostered_between(
            session, at, at + ROSTER_SPAN
        ):
            shifts.setdefault(station_id, []).append((user_id, position, start, end))
        span = _Span(at, at + ROSTER_SPAN, shifts, tuple(repository.centre_staff(session)))
        with self._lock:
            if generation == self._generation:
                self._span = span
        return span

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._span = None

    def on_notification(self, _payload: str) -> None:
        self.forget()

    @classmethod
    def listening(cls, listener: PgListener) -> RosterCache:
        """A cache that forgets the roster when another process changes it, or when the
        listener was away (changes announced meanwhile are lost)."""
        cache = cls()
        listener.on(ROSTER_CHANNEL, cache.on_notification)
        listener.on_reconnect(cache.forget)
        return cache


def on_duty(
    session: Session, cache: RosterCache | None, station_id: int, at: datetime
) -> list[tuple[int, str]]:
    """The ids of the people on the station's roster at `at`, with their position (leader
    first): from the process's cache where it has one (a serving process), else the database."""
    if cache is None:
        return repository.on_duty(session, station_id, at)
    return cache.on_duty(session, station_id, at)


def centre_staff(session: Session, cache: RosterCache | None, at: datetime) -> list[int]:
    """The ids of the active centre staff, as `on_duty`: from the cache where there is one."""
    if cache is None:
        return repository.centre_staff(session)
    return cache.centre_staff(session, at)


def _forget_every_roster() -> None:
    for cache in list(_CACHES):
        cache.forget()


@event.listens_for(Session, "before_flush")
def _announce_roster_edits(session: Session, _context: Any, _objects: Any) -> None:
    """A flushed change to the roster: this transaction reads the roster from the database from
    now on, and every process's cache is emptied once it commits (a rollback announces nothing)."""
    if session.info.get(_EDITED) or not _edits_pending(session):
        return
    session.info[_EDITED] = True
    notify_at_commit(session, ROSTER_CHANNEL, "")
    after_commit(session, _forget_every_roster)


def _edited_here(session: Session) -> bool:
    """Whether this transaction changed the roster (flushed or not): it reads the database."""
    return bool(session.info.get(_EDITED)) or _edits_pending(session)


def _edits_pending(session: Session) -> bool:
    """Whether the session holds roster changes not yet flushed."""
    return any(_edits_roster(session, obj) for obj in (*session.new, *session.dirty, *session.deleted))


def _edits_roster(session: Session, obj: object) -> bool:
    if isinstance(obj, DutyShift):
        return True
    if not isinstance(obj, User):
        return False
    if obj in session.new or obj in session.deleted:
        return True
    attrs = inspect(obj).attrs  # who is on duty, and who is centre staff; not a login's counters
    return attrs.active.history.has_changes() or attrs.role.history.has_changes()


@event.listens_for(Session, "after_transaction_end")
def _end_of_roster_edits(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_EDITED, None)
