# ruff: noqa: RUF001, RUF002, RUF003, RUF100
"""The demo district (Wujiang, Suzhou): well-formed, and routable by the real routing rules."""

from __future__ import annotations

from collections import Counter
from importlib.resources import files
from typing import Any

import pytest
import yaml

from quanzu.routing.rules import AreaRule, RoutingMethod, RoutingRules, route

VALID_LEVELS = {"town", "street", "community", "village", "zone"}


@pytest.fixture(scope="module")
def district() -> dict[str, Any]:
    text = (files("quanzu.demo") / "district.yaml").read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def _stations(district: dict[str, Any]) -> list[dict[str, Any]]:
    return [station for branch in district["branches"] for station in branch["stations"]]


def _rules(district: dict[str, Any]) -> RoutingRules:
    centre = district["centre"]
    areas = tuple(
        AreaRule(
            station_code=station["code"],
            name=area["name"],
            level=area["level"],
            aliases=tuple(area.get("aliases", ())),
        )
        for station in _stations(district)
        for area in station["areas"]
    )
    return RoutingRules(
        province=centre["province"],
        city=centre["city"],
        district=centre["district"],
        areas=areas,
        phone_fallback_station=centre["phone_fallback_station"],
        phone_home_areas=tuple(centre["phone_home_areas"]),
    )


def test_has_twenty_stations_in_two_to_four_branches(district: dict[str, Any]) -> None:
    assert len(_stations(district)) == 20
    assert 2 <= len(district["branches"]) <= 4


def test_codes_are_unique(district: dict[str, Any]) -> None:
    station_codes = [station["code"] for station in _stations(district)]
    team_codes = [team["code"] for station in _stations(district) for team in station["teams"]]
    branch_codes = [branch["code"] for branch in district["branches"]]
    for codes in (station_codes, team_codes, branch_codes):
        assert [code for code, n in Counter(codes).items() if n > 1] == []


def test_station_codes_are_short_uppercase_ascii(district: dict[str, Any]) -> None:
    for station in _stations(district):
        code = station["code"]
        assert code.isascii(), code
        assert code.isalpha(), code
        assert code.isupper(), code
        assert len(code) <= 4, code


def test_area_names_and_aliases_are_unique_across_the_district(district: dict[str, Any]) -> None:
    names = [area["name"] for station in _stations(district) for area in station["areas"]]
    aliases = [
        alias
        for station in _stations(district)
        for area in station["areas"]
        for alias in area.get("aliases", ())
    ]
    assert [name for name, n in Counter(names + aliases).items() if n > 1] == []


def test_every_station_is_well_formed(district: dict[str, Any]) -> None:
    for station in _stations(district):
        areas = station["areas"]
        assert 3 <= len(areas) <= 8, station["code"]
        assert {area["level"] for area in areas} <= VALID_LEVELS, station["code"]
        assert any(area["level"] in {"town", "street", "zone"} for area in areas), station["code"]
        assert 1 <= len(station["teams"]) <= 2, station["code"]
        assert station["phone"].startswith("0512-6"), station["code"]


def test_fallback_station_exists(district: dict[str, Any]) -> None:
    codes = {station["code"] for station in _stations(district)}
    assert district["centre"]["phone_fallback_station"] in codes


@pytest.mark.parametrize(
    ("address", "station_name"),
    [
        ("江苏省苏州市吴江区盛泽镇舜湖西路1号", "盛泽派出所"),
        ("苏州市吴江区七都镇", "七都派出所"),
        ("吴江区松陵镇开平路", "松陵派出所"),
        ("吴江区黎里镇", "黎里派出所"),
        ("吴江区汾湖高新区芦墟镇", "汾湖派出所"),
    ],
)
def test_demo_addresses_route_to_their_station(
    district: dict[str, Any], address: str, station_name: str
) -> None:
    decision = route(address, None, _rules(district))
    by_code = {station["code"]: station["name"] for station in _stations(district)}
    assert decision.method is RoutingMethod.ADDRESS
    assert decision.station_code is not None
    assert by_code[decision.station_code] == station_name


def test_every_area_name_routes_to_its_own_station(district: dict[str, Any]) -> None:
    rules = _rules(district)
    for station in _stations(district):
        for area in station["areas"]:
            decision = route(f"苏州市吴江区{area['name']}", None, rules)
            assert (decision.station_code, decision.matched) == (station["code"], area["name"])
