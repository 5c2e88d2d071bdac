# ruff: noqa: RUF001, RUF002, RUF003, RUF100
"""Routing rules: which station a warning goes to, from its address and phone, and why."""

from __future__ import annotations

import math
from typing import Any

import cpca  # type: ignore[import-untyped, unused-ignore]
import pytest

from quanzu.routing.rules import AreaRule, RoutingDecision, RoutingMethod, RoutingRules, _clean, route

SUZHOU_MOBILE = "+8613862512345"  # geocoder: 江苏省苏州市
SUZHOU_FIXED_LINE = "+8651263001234"  # geocoder: 江苏省苏州市
CHANGZHOU_MOBILE = "+8613912345678"  # geocoder: 江苏省常州市
BEIJING_MOBILE = "+8613800000000"  # geocoder: 北京市
COUNTRY_ONLY_MOBILE = "+8617012345678"  # geocoder: 中国 (virtual-operator range)

AREAS = (
    AreaRule("SL", "松陵街道", "street", ("松陵镇", "松陵")),
    AreaRule("SL", "流虹社区", "community"),
    AreaRule("SL", "北联村", "village"),
    AreaRule("SZ", "盛泽镇", "town", ("盛泽",)),
    AreaRule("SZ", "黄家溪村", "village"),
    AreaRule("SZ", "舜湖社区", "community"),
    AreaRule("JL", "江陵街道", "street"),
    AreaRule("PW", "平望镇", "town"),
    AreaRule("MY", "梅堰镇", "town"),
    AreaRule("TL", "同里镇", "town"),
    AreaRule("TL", "北联社区", "community"),
    AreaRule("BC", "长安社区", "community"),
    AreaRule("KFQ", "吴江经济技术开发区", "zone", ("吴江开发区", "经开区")),
    AreaRule("FH", "汾湖高新区", "zone", ("汾湖开发区", "汾湖")),
)

RULES = RoutingRules(
    province="江苏省",
    city="苏州市",
    district="吴江区",
    areas=AREAS,
    phone_fallback_station="SL",
    phone_home_areas=("江苏省苏州市",),
)


def _rules(**changes: Any) -> RoutingRules:
    fields: dict[str, Any] = {
        "province": RULES.province,
        "city": RULES.city,
        "district": RULES.district,
        "areas": RULES.areas,
        "phone_fallback_station": RULES.phone_fallback_station,
        "phone_home_areas": RULES.phone_home_areas,
    }
    fields.update(changes)
    return RoutingRules(**fields)


# --------------------------------------------------------------------------------------------
# by address


@pytest.mark.parametrize(
    ("address", "station", "matched"),
    [
        # a town
        ("江苏省苏州市吴江区盛泽镇西二环路1188号", "SZ", "盛泽镇"),
        ("苏州市吴江区平望镇中鲈大道8号", "PW", "平望镇"),
        ("同里镇", "TL", "同里镇"),
        # a street
        ("江苏省苏州市吴江区江陵街道长板路", "JL", "江陵街道"),
        ("吴江区松陵街道笠泽路100号", "SL", "松陵街道"),
        # a zone and its aliases
        ("苏州市吴江经济技术开发区运东大道999号", "KFQ", "吴江经济技术开发区"),
        ("吴江开发区同津大道", "KFQ", "吴江经济技术开发区"),
        ("经开区庞金路", "KFQ", "吴江经济技术开发区"),
        ("汾湖开发区临沪大道", "FH", "汾湖高新区"),
        # given aliases
        ("江苏吴江盛泽舜新中路", "SZ", "盛泽镇"),
        ("松陵镇鲈乡北路", "SL", "松陵街道"),
        # bare form derived by dropping 街道 / 镇
        ("吴江区江陵东路18号", "JL", "江陵街道"),
        ("平望中鲈大道", "PW", "平望镇"),
        # a community or village beats a town or street of another station
        ("吴江区盛泽镇流虹社区3幢", "SL", "流虹社区"),
        ("平望镇黄家溪村5组", "SZ", "黄家溪村"),
        # the longest name wins among equally specific ones
        ("平望镇梅堰路", "PW", "平望镇"),
        ("梅堰镇平望路", "MY", "梅堰镇"),
    ],
)
def test_address_routes_to_the_station_of_the_matching_area(address: str, station: str, matched: str) -> None:
    decision = route(address, CHANGZHOU_MOBILE, RULES)
    assert (decision.station_code, decision.method, decision.matched) == (
        station,
        RoutingMethod.ADDRESS,
        matched,
    )


def test_address_detail_names_the_address_area_level_and_station() -> None:
    decision = route("江苏省苏州市吴江区盛泽镇西二环路1188号", None, RULES)
    assert decision.detail == ("地址匹配辖区“盛泽镇”（镇） → 派出所 SZ")


def test_address_detail_says_which_alias_matched() -> None:
    decision = route("吴江区松陵镇开平路", None, RULES)
    assert decision.detail == "地址匹配辖区“松陵街道”（街道，按“松陵镇”识别） → 派出所 SL"


def test_address_beats_phone_home_area() -> None:
    decision = route("盛泽镇舜湖西路1号", SUZHOU_MOBILE, RULES)
    assert (decision.station_code, decision.method) == ("SZ", RoutingMethod.ADDRESS)


def test_community_bare_form_counts_no_more_than_a_town() -> None:
    """The community's bare name "长安" is also a common road name ("长安路")."""
    on_road = route("平望镇长安路1号", None, RULES)
    in_community = route("平望镇长安社区", None, RULES)
    assert (on_road.station_code, on_road.matched) == ("PW", "平望镇")
    assert (in_community.station_code, in_community.matched) == ("BC", "长安社区")


def test_bare_form_two_areas_could_claim_matches_neither() -> None:
    """北联村 (SL) and 北联社区 (TL) both strip to 北联: a bare "北联" is not evidence."""
    bare = route("吴江区北联路", None, RULES)
    assert (bare.station_code, bare.method) == (None, RoutingMethod.TRIAGE)
    assert route("吴江区北联村8组", None, RULES).station_code == "SL"
    assert route("吴江区北联社区", None, RULES).station_code == "TL"


def test_single_character_bare_form_is_not_derived() -> None:
    rules = _rules(areas=(AreaRule("TC", "屯村", "village"),))
    assert route("吴江区屯村东路", None, rules).station_code == "TC"
    assert route("吴江区屯南路", None, rules).station_code is None


# --------------------------------------------------------------------------------------------
# normalisation


@pytest.mark.parametrize(
    "address",
    [
        "江苏省苏州市吴江区盛泽镇西二环路１１８８号",  # full-width digits
        "江苏省苏州市吴江区　盛泽镇　西二环路 1188 号",  # full-width and half-width spaces
        "  江苏省苏州市吴江区盛泽镇西二环路1188号\n",
        "江蘇省蘇州市吳江區盛澤鎮西二環路1188號",  # Traditional characters
    ],
)
def test_address_is_normalised_before_matching(address: str) -> None:
    decision = route(address, None, RULES)
    assert (decision.station_code, decision.matched) == ("SZ", "盛泽镇")


def test_detail_never_repeats_the_address() -> None:
    """The explanation is stored, shown in lists and sent out in notifications: it names the
    matched area, never the target's street address (PII, encrypted at rest)."""
    address = "蘇州市吳江區盛澤鎮西二環路１１８８號"
    decision = route(address, None, RULES)
    assert decision.detail.startswith("地址匹配辖区“盛泽镇”")
    assert "西二環" not in decision.detail and "西二环" not in decision.detail


# --------------------------------------------------------------------------------------------
# cpca and its false positives


def test_cpca_reads_a_road_named_kaiping_as_kaiping_city() -> None:
    """Why route() does not trust cpca alone: this is the library's reading of a Wujiang address."""
    row = cpca.transform(["松陵镇开平路8号"]).iloc[0]
    assert (row["省"], row["市"], row["区"]) == ("广东省", "江门市", "开平市")


@pytest.mark.parametrize(
    ("address", "station"),
    [
        ("吴江区松陵镇开平路", "SL"),
        ("松陵镇开平路8号", "SL"),
        ("盛泽镇开平市场3楼", "SZ"),
    ],
)
def test_our_area_names_beat_a_cpca_misreading(address: str, station: str) -> None:
    decision = route(address, None, RULES)
    assert (decision.station_code, decision.method) == (station, RoutingMethod.ADDRESS)


@pytest.mark.parametrize(
    ("address", "place"),
    [
        ("广东省江门市开平市长沙街道", "广东省江门市开平市"),
        ("苏州市姑苏区观前街", "江苏省苏州市姑苏区"),
        ("上海市静安区吴江路", "上海市静安区"),
        ("江苏省常州市武进区湖塘镇", "江苏省常州市武进区"),
        # our names inside an address that spells out another place in full
        ("广东省江门市开平市松陵路", "广东省江门市开平市"),
    ],
)
def test_address_in_another_district_is_not_ours(address: str, place: str) -> None:
    decision = route(address, None, RULES)
    assert decision.station_code is None
    assert decision.method is RoutingMethod.TRIAGE
    assert decision.detail == f"地址不在本区（{place}）；无手机号 → 转反诈中心人工分拣"


@pytest.mark.parametrize(
    "address",
    [
        "松陵镇开平路8号",
        "江苏省苏州市吴江区盛泽镇舜湖西路1号",
        "上海市静安区吴江路",
        "广东省江门市开平市长沙街道",
        "平望梅堰路",
        "",
    ],
)
def test_the_one_address_reader_reads_as_cpca_transform(address: str) -> None:
    """route() calls cpca's one-address reader directly (no DataFrame per warning): it must keep
    reading exactly as the public `transform` does in the pinned cpca."""
    row = cpca.transform([address]).iloc[0]
    one = cpca._get_one_addr(address, False, {})
    for field in ("省", "市", "区"):
        assert _clean(one.get(field)) == _clean(row.get(field))


def test_cpca_failure_does_not_stop_routing(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_address: str, _pos: bool, _umap: dict[str, str]) -> None:
        raise RuntimeError("cpca data missing")

    monkeypatch.setattr(cpca, "_get_one_addr", broken)
    assert route("盛泽镇西二环路", None, RULES).station_code == "SZ"


def test_cpca_nan_fields_read_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    def nan_row(_address: str, _pos: bool, _umap: dict[str, str]) -> dict[str, Any]:
        return {"省": "江苏省", "市": math.nan, "区": None, "地址": math.nan}

    monkeypatch.setattr(cpca, "_get_one_addr", nan_row)
    assert route("盛泽镇西二环路", None, RULES).station_code == "SZ"


def test_cpca_called_once_per_route(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = cpca._get_one_addr

    def counting(address: str, pos: bool, umap: dict[str, str]) -> Any:
        calls.append(address)
        return real(address, pos, umap)

    monkeypatch.setattr(cpca, "_get_one_addr", counting)
    route("平望梅堰路", SUZHOU_MOBILE, RULES)
    assert len(calls) == 1


# --------------------------------------------------------------------------------------------
# falling back to the phone's home area


@pytest.mark.parametrize(
    "phone",
    [SUZHOU_MOBILE, "13862512345", "+86 138 6251 2345", SUZHOU_FIXED_LINE, "0512-63001234"],
)
def test_suzhou_phone_falls_back_to_the_fallback_station(phone: str) -> None:
    decision = route(None, phone, RULES)
    assert decision == RoutingDecision(
        station_code="SL",
        method=RoutingMethod.PHONE,
        detail="无地址；手机号归属地江苏省苏州市属本区受理范围 → 按归属地转兜底派出所 SL",
        matched="江苏省苏州市",
    )


@pytest.mark.parametrize(
    ("address", "address_reason"),
    [
        (None, "无地址"),
        ("", "无地址"),
        ("   ", "无地址"),
        ("广东省江门市开平市长沙街道", "地址不在本区（广东省江门市开平市）"),
        ("江苏省苏州市吴江区", "地址未匹配到吴江区任何辖区"),
        ("某某小区5栋", "地址未匹配到吴江区任何辖区"),
        (
            "平望梅堰路",
            "地址同时匹配“梅堰镇”（镇，按“梅堰”识别，派出所 MY）"
            "与“平望镇”（镇，按“平望”识别，派出所 PW），无法确定辖区",
        ),
    ],
)
def test_phone_fallback_says_why_the_address_did_not_decide(address: str | None, address_reason: str) -> None:
    decision = route(address, SUZHOU_MOBILE, RULES)
    assert (decision.station_code, decision.method) == ("SL", RoutingMethod.PHONE)
    assert decision.detail == (
        f"{address_reason}；手机号归属地江苏省苏州市属本区受理范围 → 按归属地转兜底派出所 SL"
    )


def test_ambiguity_within_one_station_is_not_ambiguous() -> None:
    decision = route("盛泽镇黄家溪村舜湖社区", None, RULES)
    assert (decision.station_code, decision.matched) == ("SZ", "黄家溪村")


def test_home_area_may_be_a_prefix() -> None:
    rules = _rules(phone_home_areas=("江苏省",))
    assert route(None, CHANGZHOU_MOBILE, rules).station_code == "SL"


# --------------------------------------------------------------------------------------------
# triage


@pytest.mark.parametrize(
    ("address", "phone", "detail"),
    [
        (None, None, "无地址；无手机号 → 转反诈中心人工分拣"),
        ("", "  ", "无地址；无手机号 → 转反诈中心人工分拣"),
        (
            "广东省江门市开平市长沙街道",
            CHANGZHOU_MOBILE,
            "地址不在本区（广东省江门市开平市）；手机号归属地江苏省常州市不在本辖区 → 转反诈中心人工分拣",
        ),
        (None, BEIJING_MOBILE, "无地址；手机号归属地北京市不在本辖区 → 转反诈中心人工分拣"),
        (None, "+86138625", "无地址；手机号“+86138625”不是有效号码 → 转反诈中心人工分拣"),
        (None, "abc", "无地址；手机号“abc”无法识别 → 转反诈中心人工分拣"),
        (
            None,
            COUNTRY_ONLY_MOBILE,
            f"无地址；手机号“{COUNTRY_ONLY_MOBILE}”归属地只能确定到国家（中国），无法按归属地分派"
            " → 转反诈中心人工分拣",
        ),
        (
            "平望梅堰路",
            None,
            "地址同时匹配“梅堰镇”（镇，按“梅堰”识别，派出所 MY）"
            "与“平望镇”（镇，按“平望”识别，派出所 PW），无法确定辖区；无手机号 → 转反诈中心人工分拣",
        ),
    ],
)
def test_triage_gives_the_reason_for_address_and_phone(
    address: str | None, phone: str | None, detail: str
) -> None:
    assert route(address, phone, RULES) == RoutingDecision(
        station_code=None, method=RoutingMethod.TRIAGE, detail=detail, matched=None
    )


def test_without_a_fallback_station_a_local_phone_goes_to_triage() -> None:
    decision = route(None, SUZHOU_MOBILE, _rules(phone_fallback_station=None))
    assert decision.method is RoutingMethod.TRIAGE
    assert decision.detail == (
        "无地址；手机号归属地江苏省苏州市属本区受理范围，但未设置兜底派出所 → 转反诈中心人工分拣"
    )


# --------------------------------------------------------------------------------------------
# purity (speed is measured by bench/intake.py, never by a timed test)


def test_equal_rules_objects_give_equal_decisions() -> None:
    copy = _rules()
    assert copy is not RULES
    assert route("吴江区盛泽镇流虹社区", None, copy) == route("吴江区盛泽镇流虹社区", None, RULES)


def test_method_values_are_stable_strings() -> None:
    assert [m.value for m in RoutingMethod] == ["address", "phone", "triage"]
