"""A per-process snapshot of the organisation for the hot path (intake, dispatch): units,
the routing rules and the outbound endpoints. Rebuilt at most every minute, and at once after an
import in this process; another process's edit shows up within that minute."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from quanzu.codes import OrgKind
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
