"""Who can reach the victim first: a pure ranking of candidate helpers for one case.

No I/O, no clock: the service hands in the target, the guards whose employer or community came
close, and the person's own contacts; the ranking says who to ask, in what order, and why (in
words a duty officer can check). Names are compared in a normalised form, because the same
enterprise is written many ways: 江苏恒力化纤股份有限公司, 恒力集团, 恒力化纤（吴江）, 恒力集團."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import opencc
from rapidfuzz import fuzz

# Legal forms and organisational words, stripped from the end (longest first, repeatedly).
_LEGAL_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "集团公司",
    "分公司",
    "总公司",
    "公司",
    "集团",
    "股份",
    "总厂",
    "分厂",
    "工厂",
    "厂",
    "管理处",
    "管理委员会",
    "有限合伙",
)
# Words that say what an enterprise does, not which one it is: "恒力化纤" and "恒力" are the same
# company to anybody in Wujiang, "吴江纺织" and "吴江丝绸" are not.
_INDUSTRY_WORDS = (
    "新材料",
    "高新技术",
    "科技",
    "技术",
    "实业",
    "纺织",
    "化纤",
    "丝绸",
    "印染",
    "电子",
    "电器",
    "电气",
    "光电",
    "电缆",
    "光缆",
    "通信",
    "信息",
    "贸易",
    "商贸",
    "制造",
    "机械",
    "材料",
    "服饰",
    "服装",
    "织造",
    "物流",
    "发展",
    "投资",
    "控股",
    "工业",
    "建设",
    "工程",
    "能源",
    "精密",
    "智能",
)
# Institutions named after their place: "苏州银行" keeps "苏州", or every bank would be one bank.
_GENERIC_NAMES = ("银行", "农商行", "市场", "医院", "学校", "小学", "中学", "大学", "中心", "超市", "商场")
# Region names written in front of an enterprise name; the district's own names come from the
# routing rules (see `region_words`), these are the ones every Jiangsu address may carry.
_COMMON_REGIONS = ("中国", "江苏省", "江苏", "苏州市", "苏州")
# A branch is the same employer for our purpose, and "农业银行吴江支行" must not look like
# "中国银行吴江支行" because both end in the same branch name.
_BRANCH_SUFFIXES = ("支行", "分行", "营业部", "分理处", "分部", "分店", "门店", "办事处")
_BRACKETS = re.compile(r"[（(\[【〔][^）)\]】〕]*[）)\]】〕]")
_NOISE = re.compile(r"[\s\-_·•.,，、:：;；'\"“”‘’/\\]+")
_COMMUNITY_SUFFIXES = ("社区居委会", "村民委员会", "居民委员会", "居委会", "村委会", "社区", "村")
_PLACE_IN_ADDRESS = re.compile(r"([\u4e00-\u9fff]{2,8}?(?:社区|新村|村|小区|花园|家园|苑|街道|镇))")

EMPLOYER_MATCH_MIN = 80  # below this an employer is "not the same": tuned on tests/helpers/test_ranking.py
COMMUNITY_MATCH_MIN = 90


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _plain(text: str) -> str:
    """Full-width to half-width, Traditional to Simplified, lower case, no spaces or punctuation."""
    return _NOISE.sub("", _t2s().convert(unicodedata.normalize("NFKC", text)).lower())


def _strip_suffixes(name: str, suffixes: Sequence[str]) -> str:
    changed = True
    while changed:
        changed = False
        for suffix in suffixes:
            if name.endswith(suffix) and len(name) > len(suffix):
                name, changed = name[: -len(suffix)], True
                break
    return name


def _is_generic(name: str) -> bool:
    """Nothing but what an enterprise does or is ("纺织", "丝绸印染", "银行吴江支行")."""
    if name.startswith(_GENERIC_NAMES):
        return True
    rest = name
    while rest:
        word = next((w for w in _INDUSTRY_WORDS if rest.endswith(w)), None)
        if word is None:
            return False
        rest = rest[: -len(word)]
    return True


def _strip_prefixes(name: str, prefixes: Sequence[str]) -> str:
    """Region names go from the front, unless what would be left is generic: "吴江纺织厂" is a
    name, "纺织" is not."""
    changed = True
    while changed:
        changed = False
        prefix = next((p for p in sorted(prefixes, key=len, reverse=True) if p and name.startswith(p)), None)
        rest = name[len(prefix) :] if prefix else ""
        # Only the longest prefix is tried: "吴江区丝绸印染" must not become "区丝绸印染".
        if len(rest) >= 2 and not _is_generic(rest):
            name, changed = rest, True
    return name


def region_words(province: str, city: str, district: str, towns: Iterable[str] = ()) -> tuple[str, ...]:
    """Region names to strip from the front of enterprise names, in full and bare forms
    (江苏省 and 江苏, 吴江区 and 吴江, 盛泽镇 and 盛泽)."""
    words = set(_COMMON_REGIONS)
    for name in (province, city, district, *towns):
        if name:
            words.add(name)
            bare = re.sub(r"(省|市|区|县|镇|街道)$", "", name)
            if len(bare) >= 2:
                words.add(bare)
    return tuple(sorted(words, key=len, reverse=True))


def normalise_enterprise(name: str | None, regions: Sequence[str] = _COMMON_REGIONS) -> str:
    """The comparable form of an enterprise name: "苏州市吴江区亨通光电股份有限公司（总部）" → "亨通光电".
    Region prefixes and legal forms go; what is left if stripping would leave nothing stays."""
    if not name:
        return ""
    plain = _BRACKETS.sub("", _plain(name)) or _plain(name)
    plain = _strip_branch(plain, regions)
    bare = _strip_suffixes(plain, _LEGAL_SUFFIXES)
    return _strip_prefixes(bare, regions) or bare


def _strip_branch(name: str, regions: Sequence[str]) -> str:
    """ "苏州银行吴江支行" → "苏州银行": the branch's place name goes with the branch word."""
    suffix = next((s for s in _BRANCH_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        return name
    stem = name[: -len(suffix)]
    place = next((r for r in sorted(regions, key=len, reverse=True) if stem.endswith(r)), None)
    if place is not None and len(stem) - len(place) >= 2:
        return stem[: -len(place)]
    return stem[:-2] if len(stem) >= 4 else stem


def _core(key: str, regions: Sequence[str]) -> str:
    """The enterprise's own name without what it makes: "恒力化纤" → "恒力" (but "吴江纺织" stays:
    a place is not a name)."""
    core = _strip_suffixes(key, _INDUSTRY_WORDS)
    return core if len(core) >= 2 and core not in regions else key


def _is_abbreviation(short: str, long: str) -> bool:
    """Chinese abbreviations keep characters in order, starting with the first: 吴纺 ← 吴江纺织."""
    if len(short) < 2 or short[0] != long[0]:
        return False
    rest = iter(long)
    return all(ch in rest for ch in short)


def employer_similarity(a: str, b: str, regions: Sequence[str] = _COMMON_REGIONS) -> int:
    """0–100 for two normalised enterprise names (see `normalise_enterprise`)."""
    if not a or not b:
        return 0
    if a == b:
        return 100
    best = 0
    for x, y in ((a, b), (_core(a, regions), _core(b, regions))):
        if x == y:
            best = max(best, 97)
            continue
        short, long = sorted((x, y), key=len)
        if len(short) >= 2 and short in long and not _is_generic(short) and short not in regions:
            best = max(best, 92 if long.startswith(short) else 85)
        elif _is_abbreviation(short, long):
            best = max(best, 82)
        best = max(best, round(fuzz.ratio(x, y)))
        if len(short) >= 4:  # partial matches of two-character strings are noise
            best = max(best, round(fuzz.partial_ratio(x, y)) - 5)
    return min(best, 100)


def normalise_community(name: str | None) -> str:
    """流虹社区居委会 / 流虹社區 / 流虹 → 流虹."""
    if not name:
        return ""
    return _strip_suffixes(_BRACKETS.sub("", _plain(name)), _COMMUNITY_SUFFIXES)


def places_in_address(address: str | None, regions: Sequence[str] = ()) -> tuple[str, ...]:
    """Town, street, community and village names written in an address, in order (no road, no
    house number): "吴江区松陵街道流虹社区鲈乡南路8号" → ("松陵街道", "流虹社区")."""
    if not address:
        return ()
    text = _plain(address)
    for region in sorted(regions, key=len, reverse=True):
        if region.endswith(("省", "市", "区", "县")):
            text = text.replace(region, "|")
    found = []
    for piece in text.split("|"):
        found += [m for m in _PLACE_IN_ADDRESS.findall(piece) if not m.endswith("路")]
    return tuple(dict.fromkeys(found))


# --- the ranking ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    employer: str | None
    address: str | None
    regions: tuple[str, ...] = _COMMON_REGIONS


@dataclass(frozen=True, slots=True)
class GuardEntry:
    id: int
    employer: str | None
    community: str | None
    trained: bool
    consented: bool
    active: bool = True
    employer_key: str | None = None  # normalised employer, if already known
    community_key: str | None = None


@dataclass(frozen=True, slots=True)
class ContactEntry:
    id: int
    relation: str  # relative | work_leader | community_worker
    relationship: str = ""


@dataclass(frozen=True, slots=True)
class Candidate:
    kind: str  # guard | contact
    id: int
    helper_kind: str  # guard | relative | work_leader | community_worker
    score: int
    reason: str  # Simplified Chinese, shown to the officer and kept on the help request
    employer_match: int | None = None


RELATION_LABELS = {"relative": "亲属", "work_leader": "单位领导", "community_worker": "村/社区工作人员"}
# Someone the target already trusts beats a stranger with a badge; a guard at the target's own
# workplace is the next best (nearest during the working day), then the home community.
_CONTACT_SCORES = {"relative": 90, "work_leader": 88, "community_worker": 80}
_COMMUNITY_GUARD_SCORE = 76
_NOT_TRAINED_PENALTY = 30
_NO_CONSENT_PENALTY = 40


def rank(
    target: Target, guards: Iterable[GuardEntry], contacts: Iterable[ContactEntry], *, limit: int = 20
) -> list[Candidate]:
    """Candidates best first: each with a score (0–100) and the reason. Inactive guards never
    appear; guards not trained or without signed consent come after everyone ready to go."""
    employer_key = normalise_enterprise(target.employer, target.regions)
    places = places_in_address(target.address, target.regions)
    communities = {normalise_community(p) for p in places if not p.endswith(("街道", "镇"))}
    candidates = [_contact_candidate(c) for c in contacts]
    for guard in guards:
        candidate = _guard_candidate(guard, target, employer_key, communities)
        if candidate is not None:
            candidates.append(candidate)
    candidates.sort(key=lambda c: (-c.score, c.kind != "contact", c.id))
    return candidates[:limit]


def _contact_candidate(contact: ContactEntry) -> Candidate:
    label = RELATION_LABELS.get(contact.relation, contact.relation)
    detail = f"（{contact.relationship}）" if contact.relationship else ""
    return Candidate(
        kind="contact",
        id=contact.id,
        helper_kind=contact.relation,
        score=_CONTACT_SCORES.get(contact.relation, 70),
        reason=f"本人的{label}{detail}，对方信任的人",
    )


def _guard_candidate(
    guard: GuardEntry, target: Target, employer_key: str, communities: set[str]
) -> Candidate | None:
    employer, regions = target.employer, target.regions
    if not guard.active:
        return None
    guard_employer = (
        guard.employer_key
        if guard.employer_key is not None
        else normalise_enterprise(guard.employer, regions)
    )
    match = employer_similarity(employer_key, guard_employer, regions) if employer_key else 0
    community = (
        guard.community_key if guard.community_key is not None else normalise_community(guard.community)
    )
    same_community = bool(community) and any(
        community == c or (len(community) >= 2 and fuzz.ratio(community, c) >= COMMUNITY_MATCH_MIN)
        for c in communities
    )
    reasons = []
    score = 0
    if match >= EMPLOYER_MATCH_MIN:
        score = 80 + (match - EMPLOYER_MATCH_MIN) * 6 // 20  # 80–86: below relatives, above the rest
        exact = "" if match == 100 else f"：{guard.employer} ≈ {employer}"
        reasons.append(f"同单位反诈卫士（单位名称匹配 {match}%{exact}）")
    if same_community:
        score = score + 3 if score else _COMMUNITY_GUARD_SCORE
        reasons.append(f"同社区反诈卫士（{guard.community}）")
    if not reasons:
        return None
    if not guard.trained:
        score -= _NOT_TRAINED_PENALTY
        reasons.append("未参加培训")
    if not guard.consented:
        score -= _NO_CONSENT_PENALTY
        reasons.append("未签署协助同意书")
    return Candidate(
        kind="guard",
        id=guard.id,
        helper_kind="guard",
        score=max(score, 1),
        reason="；".join(reasons),
        employer_match=match if match >= EMPLOYER_MATCH_MIN else None,
    )


def close_names(key: str, names: Iterable[str], regions: Sequence[str] = _COMMON_REGIONS) -> list[str]:
    """The distinct normalised employer names in the registry that may be the target's employer:
    the service asks the database only for guards of these."""
    if not key:
        return []
    return [n for n in names if n and employer_similarity(key, n, regions) >= EMPLOYER_MATCH_MIN]


def close_communities(communities: Iterable[str], names: Iterable[str]) -> list[str]:
    wanted = [c for c in communities if c]
    return [n for n in names if n and any(n == c or fuzz.ratio(n, c) >= COMMUNITY_MATCH_MIN for c in wanted)]


def target_communities(target: Target) -> list[str]:
    return [
        normalise_community(p)
        for p in places_in_address(target.address, target.regions)
        if not p.endswith(("街道", "镇"))
    ]


def place_hint(employer: str | None, address: str | None, regions: Sequence[str] = ()) -> str:
    """Where to look, without the street address: the town/community and the employer."""
    parts = []
    places = places_in_address(address, regions)
    if places:
        parts.append("住在" + "".join(places[-2:]) + "一带")
    if employer:
        parts.append(f"在{employer}工作")
    return "，".join(parts)
