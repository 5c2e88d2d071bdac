"""Importing and changing the organisation: units, areas, people and the duty roster."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import SYSTEM, Actor
from quanzu.auth.scoping import require_role
from quanzu.auth.service import hash_password
from quanzu.codes import OrgKind, Role
from quanzu.escalation.service import schedule_shift_end
from quanzu.kit.db import after_commit
from quanzu.kit.errors import FieldError, Forbidden, NotFound, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import parse
from quanzu.models.dispatch import ChannelEndpointRow
from quanzu.models.org import DutyShift, JurisdictionArea, OrgUnit, User
from quanzu.org import repository
from quanzu.org.schemas import (
    CentreIn,
    ChannelIn,
    OrgFile,
    ShiftAdd,
    ShiftIn,
    ShiftView,
    StationView,
    TeamMember,
    UserIn,
)


@dataclass(frozen=True, slots=True)
class ImportReport:
    units: int
    areas: int
    users: int
    shifts: int


def import_file(session: Session, rt: Runtime, path: Path, actor: Actor = SYSTEM) -> ImportReport:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return import_csv(session, rt, text, actor)
    return import_org(session, rt, yaml.safe_load(text), actor)


def import_org(session: Session, rt: Runtime, data: Any, actor: Actor = SYSTEM) -> ImportReport:
    """Creates or updates (by code) every unit and area in the file; idempotent."""
    org = parse(OrgFile, data)
    _check_unique_areas(org)
    units = areas = 0
    centre = _upsert_unit(session, OrgKind.CENTRE, org.centre.code, org.centre.name, None, org.centre.phone)
    centre.settings = _centre_settings(org.centre)
    _save_channels(session, centre.id, org.centre.channels)
    units += 1
    for branch_in in org.branches:
        branch = _upsert_unit(
            session, OrgKind.BRANCH, branch_in.code, branch_in.name, centre.id, branch_in.phone
        )
        _save_channels(session, branch.id, branch_in.channels)
        units += 1
        for st in branch_in.stations:
            station = _upsert_unit(session, OrgKind.STATION, st.code, st.name, branch.id, st.phone)
            _save_channels(session, station.id, st.channels)
            units += 1
            for team in st.teams:
                _upsert_unit(session, OrgKind.TEAM, team.code, team.name, station.id, None)
                units += 1
            for area_in in st.areas:
                _upsert_area(
                    session, station.id, area_in.name, area_in.level, area_in.aliases, area_in.polygon
                )
                areas += 1
    hashes: dict[str, str] = {}
    users = sum(1 for u in org.users if _upsert_user(session, u, hashes))
    session.flush()
    shifts = sum(1 for s in org.roster if _add_shift(session, s))
    after_commit(session, rt.org.invalidate)  # the hot path's snapshot must see the new org
    audit.record(
        session,
        rt.clock,
        actor,
        "org.imported",
        "org",
        centre.code,
        {"units": units, "areas": areas, "users": users, "shifts": shifts},
    )
    return ImportReport(units, areas, users, shifts)


def _centre_settings(c: CentreIn) -> dict[str, Any]:
    return {
        "province": c.province,
        "city": c.city,
        "district": c.district,
        "phone_fallback_station": c.phone_fallback_station,
        "phone_home_areas": c.phone_home_areas,
    }


def _check_unique_areas(org: OrgFile) -> None:
    seen: dict[str, str] = {}
    errors = []
    for b in org.branches:
        for st in b.stations:
            for area in st.areas:
                if area.name in seen:
                    errors.append(
                        FieldError(
                            f"stations.{st.code}.areas", f"辖区“{area.name}”重复（已属于 {seen[area.name]}）"
                        )
                    )
                seen[area.name] = st.code
    if errors:
        raise ValidationFailed(errors)


def _upsert_unit(
    session: Session, kind: OrgKind, code: str, name: str, parent_id: int | None, phone: str | None
) -> OrgUnit:
    unit = repository.unit_by_code(session, code)
    if unit is None:
        unit = OrgUnit(code=code, kind=kind, settings={})
        session.add(unit)
    unit.kind, unit.name, unit.parent_id, unit.phone = kind, name, parent_id, phone
    session.flush()
    return unit


def _save_channels(session: Session, unit_id: int, channels: list[ChannelIn]) -> None:
    """Channels are identified by (unit, kind, target); a re-import updates secret and options."""
    for ch in channels:
        row = repository.channel(session, unit_id, ch.kind, ch.target)
        if row is None:
            row = ChannelEndpointRow(org_unit_id=unit_id, kind=ch.kind, target=ch.target)
            session.add(row)
        row.secret, row.options, row.active = ch.secret, ch.options, ch.active


def _upsert_area(
    session: Session,
    station_id: int,
    name: str,
    level: str,
    aliases: list[str],
    polygon: list[list[float]] | None,
) -> None:
    area = repository.area_by_name(session, name)
    if area is None:
        area = JurisdictionArea(name=name)
        session.add(area)
    area.station_id, area.level, area.aliases, area.polygon = station_id, level, aliases, polygon


def _upsert_user(session: Session, u: UserIn, hashes: dict[str, str] | None = None) -> bool:
    unit = repository.unit_by_code(session, u.unit) if u.unit else None
    if u.unit and unit is None:
        raise ValidationFailed([FieldError(f"users.{u.username}.unit", f"unknown unit code {u.unit!r}")])
    user = repository.user_by_username(session, u.username)
    if user is None:
        user = User(username=u.username, locale="zh-Hans", active=True, failed_logins=0)
        session.add(user)
    user.display_name, user.role, user.phone, user.email = u.display_name, u.role, u.phone, u.email
    user.org_unit_id = unit.id if unit else None
    if u.password:
        # argon2 is slow on purpose; an import that gives many people one initial password
        # hashes it once.
        cache = hashes if hashes is not None else {}
        if u.password not in cache:
            cache[u.password] = hash_password(u.password)
        user.password_hash = cache[u.password]
    return True


def _add_shift(session: Session, s: ShiftIn) -> bool:
    user = repository.user_by_username(session, s.user)
    station = repository.unit_by_code(session, s.station)
    errors = []
    if user is None:
        errors.append(FieldError("roster.user", f"unknown user {s.user!r}"))
    if station is None or station.kind != OrgKind.STATION:
        errors.append(FieldError("roster.station", f"unknown station {s.station!r}"))
    if s.starts_at.tzinfo is None or s.ends_at.tzinfo is None:
        errors.append(FieldError("roster.starts_at", "时间必须带时区"))
    elif s.ends_at <= s.starts_at:
        errors.append(FieldError("roster.ends_at", "结束时间必须晚于开始时间"))
    if errors or user is None or station is None:
        raise ValidationFailed(errors)
    if repository.shift_exists(session, user.id, station.id, s.starts_at, s.ends_at):
        return False
    session.add(
        DutyShift(
            station_id=station.id,
            user_id=user.id,
            position=s.position,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
        )
    )
    schedule_shift_end(session, station.id, s.ends_at)
    return True


def import_csv(session: Session, rt: Runtime, text: str, actor: Actor = SYSTEM) -> ImportReport:
    """A users CSV (username, display_name, role, unit, phone, email, password) or a roster CSV
    (user, station, position, starts_at, ends_at), told apart by the header."""
    rows = list(csv.DictReader(io.StringIO(text)))
    header = set(rows[0]) if rows else set()
    users = shifts = 0
    hashes: dict[str, str] = {}
    if "username" in header:
        for i, row in enumerate(rows, start=2):
            clean = {k: v for k, v in row.items() if v not in (None, "")}
            users += _upsert_user(session, parse(UserIn, clean, prefix=f"line {i}"), hashes)
    elif {"user", "station", "starts_at"} <= header:
        for i, row in enumerate(rows, start=2):
            shifts += _add_shift(session, parse(ShiftIn, row, prefix=f"line {i}"))
    else:
        raise ValidationFailed(
            [FieldError("header", "CSV 表头应为用户（username,…）或排班（user,station,…）")]
        )
    session.flush()
    audit.record(session, rt.clock, actor, "org.imported", "org", "csv", {"users": users, "shifts": shifts})
    return ImportReport(0, 0, users, shifts)


def add_user(session: Session, rt: Runtime, data: dict[str, Any], actor: Actor = SYSTEM) -> User:
    u = parse(UserIn, data)
    _upsert_user(session, u)
    session.flush()
    user = repository.user_by_username(session, u.username)
    assert user is not None  # noqa: S101
    audit.record(session, rt.clock, actor, "user.saved", "user", user.id, {"role": u.role, "unit": u.unit})
    return user


ROSTER_EDITORS = (Role.CHIEF, Role.DUTY_LEADER, Role.CENTRE, Role.ADMIN)
STATION_READERS = (
    Role.CHIEF,
    Role.DUTY_LEADER,
    Role.DISSUADER,
    Role.CENTRE,
    Role.ADMIN,
    Role.BRANCH,
    Role.AUDITOR,
)


def _station_for(session: Session, actor: Actor, code: str) -> OrgUnit:
    station = repository.unit_by_code(session, code)
    if station is None or station.kind != OrgKind.STATION:
        raise NotFound(f"station {code} not found")
    if actor.role not in STATION_READERS:
        raise Forbidden(f"role {actor.role} may not see station pages")
    own = (
        actor.role in (Role.CENTRE, Role.ADMIN, Role.AUDITOR)
        or actor.station_id == station.id
        or (actor.role is Role.BRANCH and actor.branch_id == station.parent_id)
    )
    if not own:
        raise NotFound(f"station {code} not found")
    return station


def station_view(session: Session, rt: Runtime, actor: Actor, code: str, days: int = 7) -> StationView:
    station = _station_for(session, actor, code)
    now = rt.clock.now()
    team = [
        TeamMember(
            user_id=u.id,
            username=u.username,
            display_name=u.display_name,
            role=u.role,
            unit=unit.name,
            phone=u.phone,
        )
        for u, unit in repository.members(
            session, [station.id] + [c.id for c in repository.children(session, station.id)]
        )
    ]
    roster = [
        ShiftView(
            id=s.id,
            username=u.username,
            display_name=u.display_name,
            position=s.position,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            on_duty_now=s.starts_at <= now < s.ends_at,
        )
        for s, u in repository.shifts_between(
            session, station.id, now - timedelta(hours=12), now + timedelta(days=days)
        )
    ]
    return StationView(
        code=station.code,
        name=station.name,
        phone=station.phone,
        team=team,
        roster=roster,
        can_edit_roster=actor.role in ROSTER_EDITORS,
    )


def add_shift(session: Session, rt: Runtime, actor: Actor, code: str, shift: ShiftAdd) -> None:
    station = _station_for(session, actor, code)
    require_role(actor, *ROSTER_EDITORS)
    team_units = {station.id, *(c.id for c in repository.children(session, station.id))}
    user = repository.user_by_username(session, shift.user)
    if user is None or user.org_unit_id not in team_units:
        raise ValidationFailed([FieldError("user", f"{shift.user} 不是本所人员")])
    _add_shift(
        session,
        ShiftIn(
            user=shift.user,
            station=code,
            position=shift.position,
            starts_at=shift.starts_at,
            ends_at=shift.ends_at,
        ),
    )
    audit.record(
        session,
        rt.clock,
        actor,
        "roster.shift_added",
        "station",
        station.code,
        {"user": shift.user, "starts_at": shift.starts_at.isoformat(), "ends_at": shift.ends_at.isoformat()},
    )


def remove_shift(session: Session, rt: Runtime, actor: Actor, code: str, shift_id: int) -> None:
    station = _station_for(session, actor, code)
    require_role(actor, *ROSTER_EDITORS)
    shift = session.get(DutyShift, shift_id)
    if shift is None or shift.station_id != station.id:
        raise NotFound(f"shift {shift_id} not found")
    session.delete(shift)
    audit.record(
        session, rt.clock, actor, "roster.shift_removed", "station", station.code, {"shift_id": shift_id}
    )
