"""Builds the pure routing rules from the organisation tables, cached per process."""

from __future__ import annotations

import threading
import time

from sqlalchemy.orm import Session

from quanzu.org import repository as org_repo
from quanzu.routing.rules import AreaRule, RoutingRules

_CACHE_SECONDS = 60.0  # org edits in another process show up within this; ours invalidate at once


class RulesCache:
    def __init__(self) -> None:
        self._rules: RoutingRules | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self, session: Session) -> RoutingRules:
        with self._lock:
            fresh = time.monotonic() - self._loaded_at < _CACHE_SECONDS
            if self._rules is None or not fresh:
                self._rules = load_rules(session)
                self._loaded_at = time.monotonic()
            return self._rules

    def invalidate(self) -> None:
        with self._lock:
            self._rules = None


def load_rules(session: Session) -> RoutingRules:
    centre = org_repo.centre(session)
    settings = centre.settings if centre else {}
    areas = tuple(
        AreaRule(station_code=code, name=area.name, level=area.level, aliases=tuple(area.aliases or ()))
        for area, code in org_repo.all_areas(session)
    )
    return RoutingRules(
        province=settings.get("province", ""),
        city=settings.get("city", ""),
        district=settings.get("district", ""),
        areas=areas,
        phone_fallback_station=settings.get("phone_fallback_station"),
        phone_home_areas=tuple(settings.get("phone_home_areas", ())),
    )
