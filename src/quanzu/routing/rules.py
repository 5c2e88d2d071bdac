# ruff: noqa: RUF001, RUF002, RUF003, RUF100
"""Routing: which police station takes a warning, decided from the target's address and phone.

`route` is a pure function of its arguments: no I/O, no database, no clock. The one expensive
thing, compiling the area matcher for a `RoutingRules`, is cached per (frozen, hashable) rules
object, so after warm-up a call costs about one cpca parse (~1 ms).

Order of evidence:
1. the address, matched against our own area names (towns, streets, communities, villages, zones);
2. the phone number's home area, when the address gives no station;
3. otherwise the centre's triage queue, with the reasons from both.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import cpca  # type: ignore[import-untyped, unused-ignore]
import phonenumbers
from phonenumbers import geocoder


class RoutingMethod(StrEnum):
    ADDRESS = "address"
    PHONE = "phone"
    TRIAGE = "triage"


@dataclass(frozen=True, slots=True)
class AreaRule:
    station_code: str
    name: str  # e.g. "盛泽镇", "松陵街道", "流虹社区", "黄家溪村", "吴江经济技术开发区"
    level: str  # "town" | "street" | "community" | "village" | "zone"
    aliases: tuple[str, ...] = ()  # e.g. ("盛泽",) or ("吴江开发区", "经开区")


@dataclass(frozen=True, slots=True)
class RoutingRules:
    province: str  # "江苏省"
    city: str  # "苏州市"
    district: str  # "吴江区"
    areas: tuple[AreaRule, ...]
    phone_fallback_station: str | None  # station that takes warnings placed only by phone home area
    phone_home_areas: tuple[str, ...]  # geocoder descriptions accepted as "ours", e.g. ("江苏省苏州市",)


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    station_code: str | None
    method: RoutingMethod
    detail: str  # human explanation in Simplified Chinese
    matched: str | None = None  # the area name (or home area) that matched


AREA_LEVELS: dict[str, str] = {
    "town": "镇",
    "street": "街道",
    "community": "社区",
    "village": "村",
    "zone": "园区",
}

# A community or village names a smaller place than a town, street or zone, so it is the better
# evidence of whose jurisdiction an address is in.
_SPECIFICITY: dict[str, int] = {"community": 2, "village": 2, "town": 1, "street": 1, "zone": 1}
_BARE_SPECIFICITY = 1

# Suffixes dropped to get the bare form people often write ("盛泽" for "盛泽镇"). Longest first so
# "街道" is stripped whole.
_BARE_SUFFIXES: tuple[str, ...] = ("街道", "社区", "镇", "村")
_MIN_BARE_LENGTH = 2

# cpca names the municipalities' city level "市辖区"; it says nothing about where the address is.
_CPCA_PLACEHOLDER_CITY = "市辖区"

# A cpca reading that disagrees with our district is trusted over our own area names only when the
# address spells out at least this many of the foreign division names in full: a lone "开平" in
# "松陵镇开平路" (a road) or "开平市场" (a market) is how cpca gets fooled.
_EXPLICIT_FOREIGN_NAMES = 2


# Traditional characters seen in Jiangsu addresses, mapped to Simplified so that "蘇州市吳江區盛澤鎮"
# matches like "苏州市吴江区盛泽镇". Not a general converter: just the characters of place names,
# division suffixes and house numbers.
_TRADITIONAL_PAIRS = (
    "蘇苏 吳吴 區区 鎮镇 澤泽 縣县 廣广 東东 門门 陽阳 開开 發发 濱滨 灣湾 橫横 園园 龍龙 華华 興兴 長长 "
    "橋桥 莊庄 裡里 裏里 壇坛 麗丽 鳳凤 雲云 號号 樓楼 單单 戶户 嶺岭 灘滩 瀆渎 漢汉 寧宁 慶庆 鄉乡 會会 "
    "場场 館馆 廈厦 學学 醫医 樂乐 寶宝 鐘钟 齊齐 勝胜 羅罗 銅铜 雙双 楊杨 厙厍 壩坝 豐丰 農农 創创 聯联 "
    "誼谊 溝沟 匯汇 滙汇 蓮莲 燈灯 蘆芦 陳陈 張张 劉刘 湧涌 黃黄 達达 輝辉 韻韵 眾众 鶯莺 觀观 協协 紡纺 "
    "織织 絲丝 綢绸 貿贸"
)
_TO_SIMPLIFIED = str.maketrans({pair[0]: pair[1] for pair in _TRADITIONAL_PAIRS.split()})

_WHITESPACE = re.compile(r"\s+")

_Divisions = tuple[str | None, str | None, str | None]  # province, city, district


@dataclass(frozen=True, slots=True)
class _Needle:
    """One string that, found in an address, points at an area."""

    text: str
    area: AreaRule
    specificity: int


@dataclass(frozen=True, slots=True)
class _Hit:
    needle: _Needle
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.needle.text)

    @property
    def rank(self) -> tuple[int, int]:
        return (self.needle.specificity, len(self.needle.text))

    def lies_inside(self, other: _Hit) -> bool:
        return (
            other.start <= self.start
            and self.end <= other.end
            and len(other.needle.text) > len(self.needle.text)
        )


@dataclass(frozen=True, slots=True)
class _AddressOutcome:
    station_code: str | None
    detail: str  # the explanation when a station was found, else the reason there was none
    matched: str | None = None


# --------------------------------------------------------------------------------------------
# public entry point


def route(address: str | None, phone_e164: str | None, rules: RoutingRules) -> RoutingDecision:
    """Decide which station takes a warning, and say why in words a duty officer can check."""
    by_address = _route_by_address(address, rules)
    if by_address.station_code is not None:
        return RoutingDecision(
            station_code=by_address.station_code,
            method=RoutingMethod.ADDRESS,
            detail=by_address.detail,
            matched=by_address.matched,
        )
    address_reason = by_address.detail
    home_area, phone_reason = _phone_home_area(phone_e164, rules)
    if home_area is not None and rules.phone_fallback_station is not None:
        return RoutingDecision(
            station_code=rules.phone_fallback_station,
            method=RoutingMethod.PHONE,
            detail=(
                f"{address_reason}；手机号归属地{home_area}属本区受理范围"
                f" → 按归属地转兜底派出所 {rules.phone_fallback_station}"
            ),
            matched=home_area,
        )
    return RoutingDecision(
        station_code=None,
        method=RoutingMethod.TRIAGE,
        detail=f"{address_reason}；{phone_reason} → 转反诈中心人工分拣",
    )


# --------------------------------------------------------------------------------------------
# address


def _normalise(text: str) -> str:
    """Full-width digits, letters and spaces to half-width, Traditional to Simplified, no spaces."""
    half_width = unicodedata.normalize("NFKC", text)
    return _WHITESPACE.sub("", half_width.translate(_TO_SIMPLIFIED))


def _route_by_address(address: str | None, rules: RoutingRules) -> _AddressOutcome:
    if address is None or not _normalise(address):
        return _AddressOutcome(None, "无地址")
    text = _normalise(address)
    hits = _find_area_hits(text, rules)
    reading = _cpca_divisions(text)
    contradicting = _contradicting_divisions(reading, rules)
    if contradicting and _outweighs_our_names(contradicting, text, hits, rules):
        place = "".join(name for name in reading if name is not None)
        return _AddressOutcome(None, f"地址不在本区（{place}）")
    if not hits:
        return _AddressOutcome(None, f"地址未匹配到{rules.district}任何辖区")
    best = _best_hits(hits)
    stations = sorted({hit.needle.area.station_code for hit in best})
    if len(stations) > 1:
        candidates = "与".join(_describe_candidate(hit) for hit in _one_hit_per_station(best))
        return _AddressOutcome(None, f"地址同时匹配{candidates}，无法确定辖区")
    chosen = min(best, key=lambda hit: hit.start)
    return _AddressOutcome(
        station_code=chosen.needle.area.station_code,
        detail=f"地址匹配辖区{_describe_area(chosen)} → 派出所 {chosen.needle.area.station_code}",
        matched=chosen.needle.area.name,
    )


def _outweighs_our_names(contradicting: list[str], text: str, hits: list[_Hit], rules: RoutingRules) -> bool:
    """Whether cpca's other-place reading beats what the address says in our own names.

    cpca reads bare division names anywhere in the text ("开平路" → 开平市), so a contradiction it
    infers is trusted only when none of our names is present, or when the address writes out
    several of the foreign divisions in full ("广东省江门市开平市松陵路").
    """
    spelled_out = sum(1 for name in contradicting if name in text)
    if spelled_out >= _EXPLICIT_FOREIGN_NAMES:
        return True
    has_our_names = bool(hits) or rules.district in text
    return not has_our_names


def _describe_area(hit: _Hit, *extra: str) -> str:
    """The area, its level and the words that matched, e.g. “松陵街道”（街道，按“松陵镇”识别）."""
    area = hit.needle.area
    notes = [AREA_LEVELS.get(area.level, area.level)]
    if hit.needle.text != area.name:
        notes.append(f"按“{hit.needle.text}”识别")
    return f"“{area.name}”（{'，'.join([*notes, *extra])}）"


def _describe_candidate(hit: _Hit) -> str:
    return _describe_area(hit, f"派出所 {hit.needle.area.station_code}")


def _one_hit_per_station(hits: list[_Hit]) -> list[_Hit]:
    first: dict[str, _Hit] = {}
    for hit in sorted(hits, key=lambda h: h.start):
        first.setdefault(hit.needle.area.station_code, hit)
    return sorted(first.values(), key=lambda h: h.needle.area.station_code)


def _find_area_hits(text: str, rules: RoutingRules) -> list[_Hit]:
    """Every occurrence of one of our names, minus those that are only part of a longer one."""
    hits = [
        _Hit(needle, start)
        for needle in _needles_for(rules)
        if needle.text in text  # most of the district's names are not: no call for them
        for start in _occurrences(needle.text, text)
    ]
    return [hit for hit in hits if not any(hit.lies_inside(other) for other in hits)]


def _occurrences(needle: str, text: str) -> list[int]:
    starts: list[int] = []
    start = text.find(needle)
    while start != -1:
        starts.append(start)
        start = text.find(needle, start + 1)
    return starts


def _best_hits(hits: list[_Hit]) -> list[_Hit]:
    top = max(hit.rank for hit in hits)
    return [hit for hit in hits if hit.rank == top]


@lru_cache(maxsize=8)
def _needles_for(rules: RoutingRules) -> tuple[_Needle, ...]:
    """The strings to look for, compiled once per rules object.

    Names and aliases come as given. Bare forms ("盛泽" from "盛泽镇") are derived; a derived form
    that more than one area could claim is dropped rather than allowed to make matches ambiguous,
    and given names always win over derived ones. A community's or village's bare form is often
    also a road or a shop ("舜湖西路", "长安路"), so it counts no more than a town's name.
    """
    needles: dict[str, _Needle] = {}
    for area in rules.areas:
        specificity = _SPECIFICITY.get(area.level, 0)
        for text in (area.name, *area.aliases):
            needles.setdefault(_normalise(text), _Needle(_normalise(text), area, specificity))
    claims: dict[str, set[AreaRule]] = {}
    for area in rules.areas:
        bare = _bare_form(_normalise(area.name))
        if bare is not None and bare not in needles:
            claims.setdefault(bare, set()).add(area)
    for bare, areas in claims.items():
        if len(areas) == 1:
            (area,) = areas
            needles[bare] = _Needle(bare, area, min(_SPECIFICITY.get(area.level, 0), _BARE_SPECIFICITY))
    return tuple(needles.values())


def _bare_form(name: str) -> str | None:
    for suffix in _BARE_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= _MIN_BARE_LENGTH:
            return name[: -len(suffix)]
    return None


def _contradicting_divisions(reading: _Divisions, rules: RoutingRules) -> list[str]:
    """The names in cpca's reading (province, city, district) that are not ours."""
    ours = (rules.province, rules.city, rules.district)
    return [their for their, our in zip(reading, ours, strict=True) if their is not None and their != our]


def _cpca_divisions(text: str) -> _Divisions:
    """Province, city and district as cpca reads them; None where it found nothing."""
    try:
        # cpca's one-address reader: `cpca.transform` wraps it in a pandas DataFrame, which costs
        # 70 times the parse itself on every warning (pinned cpca; tests/routing compare the two).
        row = cpca._get_one_addr(text, False, {})
    except Exception:  # a parser hiccup must not stop a warning from being routed
        return (None, None, None)
    city = _clean(row.get("市"))
    return (
        _clean(row.get("省")),
        None if city == _CPCA_PLACEHOLDER_CITY else city,
        _clean(row.get("区")),
    )


def _clean(value: object) -> str | None:
    """cpca (through pandas) reports a missing field as None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


# --------------------------------------------------------------------------------------------
# phone


def _phone_home_area(phone_e164: str | None, rules: RoutingRules) -> tuple[str | None, str]:
    """The phone's home area when it is one we accept, else None, plus the reason in words."""
    if phone_e164 is None or not phone_e164.strip():
        return None, "无手机号"
    raw = phone_e164.strip()
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return None, f"手机号“{raw}”无法识别"
    if not phonenumbers.is_valid_number(number):
        return None, f"手机号“{raw}”不是有效号码"
    home_area = geocoder.description_for_number(number, "zh")
    if not home_area:
        return None, f"手机号“{raw}”归属地未知"
    if home_area == geocoder.country_name_for_number(number, "zh"):
        # Newer and virtual-operator ranges (170, 199, …) are known only down to the country.
        return None, f"手机号“{raw}”归属地只能确定到国家（{home_area}），无法按归属地分派"
    if not any(home_area.startswith(ours) for ours in rules.phone_home_areas):
        return None, f"手机号归属地{home_area}不在本辖区"
    if rules.phone_fallback_station is None:
        return None, f"手机号归属地{home_area}属本区受理范围，但未设置兜底派出所"
    return home_area, f"手机号归属地{home_area}属本区受理范围"
