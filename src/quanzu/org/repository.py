"""Queries about the organisation: stations, areas, rosters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from quanzu.codes import OrgKind
from quanzu.models.dispatch import ChannelEndpointRow
from quanzu.models.org import DutyShift, JurisdictionArea, OrgUnit, User


def centre(session: Session) -> OrgUnit | None:
    return session.scalars(select(OrgUnit).where(OrgUnit.kind == OrgKind.CENTRE).limit(1)).first()


def unit_by_code(session: Session, code: str) -> OrgUnit | None:
    return session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first()


def units_by_ids(session: Session, ids: set[int]) -> dict[int, OrgUnit]:
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)))}


def stations(session: Session) -> list[OrgUnit]:
    return list(
        session.scalars(select(OrgUnit).where(OrgUnit.kind == OrgKind.STATION).order_by(OrgUnit.code))
    )


def all_areas(session: Session) -> list[tuple[JurisdictionArea, str]]:
    """Every jurisdiction area with its station's code."""
    stmt = select(JurisdictionArea, OrgUnit.code).join(OrgUnit, OrgUnit.id == JurisdictionArea.station_id)
    return [(area, code) for area, code in session.execute(stmt).all()]


def on_duty(session: Session, station_id: int, at: datetime) -> list[tuple[int, str]]:
    """The ids of the people on the station's roster at `at`, with their position (leader first).
    Ids only: intake asks for every warning, and loading the users as objects cost more than
    the query."""
    stmt = (
        select(User.id, DutyShift.position)
        .join(DutyShift, DutyShift.user_id == User.id)
        .where(
            DutyShift.station_id == station_id,
            DutyShift.starts_at <= at,
            DutyShift.ends_at > at,
            User.active.is_(True),
        )
        .order_by(DutyShift.position, User.id)
    )
    return [(user_id, position) for user_id, position in session.execute(stmt).all()]


def centre_staff(session: Session) -> list[int]:
    """The ids of the active centre staff: who hears what no station takes."""
    stmt = select(User.id).where(User.role == "centre", User.active.is_(True))
    return list(session.scalars(stmt.order_by(User.id)))


def rostered_between(
    session: Session, start: datetime, end: datetime
) -> list[tuple[int, int, str, datetime, datetime]]:
    """Every station's shifts of active users that overlap `[start, end)`: (station, user,
    position, starts_at, ends_at), as `on_duty` would choose from them."""
    stmt = (
        select(DutyShift.station_id, User.id, DutyShift.position, DutyShift.starts_at, DutyShift.ends_at)
        .join(DutyShift, DutyShift.user_id == User.id)
        .where(DutyShift.starts_at < end, DutyShift.ends_at > start, User.active.is_(True))
    )
    return [
        (station, user, position, start, end) for station, user, position, start, end in session.execute(stmt)
    ]


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def users_by_ids(session: Session, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


def children(session: Session, parent_id: int) -> list[OrgUnit]:
    return list(session.scalars(select(OrgUnit).where(OrgUnit.parent_id == parent_id).order_by(OrgUnit.id)))


def area_by_name(session: Session, name: str) -> JurisdictionArea | None:
    return session.scalars(select(JurisdictionArea).where(JurisdictionArea.name == name)).first()


def shift_exists(
    session: Session, user_id: int, station_id: int, starts_at: datetime, ends_at: datetime
) -> bool:
    stmt = select(DutyShift.id).where(
        DutyShift.user_id == user_id,
        DutyShift.station_id == station_id,
        DutyShift.starts_at == starts_at,
        DutyShift.ends_at == ends_at,
    )
    return session.scalars(stmt).first() is not None


def channel(session: Session, unit_id: int, kind: str, target: str) -> ChannelEndpointRow | None:
    stmt = select(ChannelEndpointRow).where(
        ChannelEndpointRow.org_unit_id == unit_id,
        ChannelEndpointRow.kind == kind,
        ChannelEndpointRow.target == target,
    )
    return session.scalars(stmt).first()


def all_units(session: Session) -> list[OrgUnit]:
    return list(session.scalars(select(OrgUnit).order_by(OrgUnit.id)))


def active_endpoints(session: Session) -> list[ChannelEndpointRow]:
    stmt = (
        select(ChannelEndpointRow).where(ChannelEndpointRow.active.is_(True)).order_by(ChannelEndpointRow.id)
    )
    return list(session.scalars(stmt))


def members(session: Session, unit_ids: list[int]) -> list[tuple[User, OrgUnit]]:
    stmt = (
        select(User, OrgUnit)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.org_unit_id.in_(unit_ids), User.active.is_(True))
        .order_by(User.role, User.username)
    )
    return [(u, o) for u, o in session.execute(stmt).all()]


def shifts_between(
    session: Session, station_id: int, start: datetime, end: datetime
) -> list[tuple[DutyShift, User]]:
    stmt = (
        select(DutyShift, User)
        .join(User, User.id == DutyShift.user_id)
        .where(DutyShift.station_id == station_id, DutyShift.ends_at > start, DutyShift.starts_at < end)
        .order_by(DutyShift.starts_at, DutyShift.position, User.username)
    )
    return [(s, u) for s, u in session.execute(stmt).all()]


def latest_shift_end(session: Session) -> datetime | None:
    return session.scalars(select(DutyShift.ends_at).order_by(DutyShift.ends_at.desc()).limit(1)).first()
