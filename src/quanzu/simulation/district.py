"""The simulated district: stations, routing rules and a pool of target addresses, built from
the organisation file (the demo district by default), the same data `quanzu org import` loads."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from quanzu.demo.feed import ROADS
from quanzu.demo.service import district_file
from quanzu.kit.validation import parse
from quanzu.org.schemas import OrgFile
from quanzu.routing.rules import AreaRule, RoutingDecision, RoutingRules, route

ELSEWHERE = ("浙江省杭州市西湖区文三路90号", "上海市徐汇区漕溪北路88号", "浙江省嘉兴市秀洲区洪兴路6号")
ELSEWHERE_PHONE = "+8613805710000"  # a Hangzhou mobile: neither the address nor the phone is ours
LOCAL_PHONE = "+8613862510000"  # a Suzhou mobile: routed by the phone's home area


@dataclass(frozen=True, slots=True)
class Station:
    code: str
    name: str
    branch: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class District:
    org: OrgFile
    rules: RoutingRules
    stations: tuple[Station, ...]

    def station(self, code: str) -> Station:
        return next(s for s in self.stations if s.code == code)


def load_org(district: str) -> OrgFile:
    if district == "demo":
        return district_file()
    return parse(OrgFile, yaml.safe_load(Path(district).read_text(encoding="utf-8")))


def build_district(district: str, only: tuple[str, ...] = ()) -> District:
    org = load_org(district)
    c = org.centre
    rules = RoutingRules(
        province=c.province,
        city=c.city,
        district=c.district,
        areas=tuple(
            AreaRule(st.code, a.name, a.level, tuple(a.aliases))
            for b in org.branches
            for st in b.stations
            for a in st.areas
        ),
        phone_fallback_station=c.phone_fallback_station,
        phone_home_areas=tuple(c.phone_home_areas),
    )
    rng = random.Random(f"addresses:{district}")
    stations = []
    for b in org.branches:
        for st in b.stations:
            if only and st.code not in only:
                continue
            # One address in each of the station's areas: every area is routed (the real parser
            # costs ~10 ms an address, so the pool stays small and each is parsed once).
            pool = tuple(
                f"{c.province}{c.city}{c.district}{area.name}{rng.choice(ROADS)}{rng.randrange(1, 999)}号"
                for area in st.areas
            )
            stations.append(Station(st.code, st.name, b.code, pool))
    if not stations:
        raise ValueError(f"no stations to simulate (district {district}, only {list(only)})")
    return District(org=org, rules=rules, stations=tuple(stations))


@lru_cache(maxsize=65536)
def _route_cached(address: str | None, phone: str, rules: RoutingRules) -> RoutingDecision:
    return route(address, phone, rules)


def route_warning(address: str | None, phone: str, rules: RoutingRules) -> RoutingDecision:
    """The real routing function; the address pool is finite, so each address is parsed once."""
    return _route_cached(address, phone, rules)
