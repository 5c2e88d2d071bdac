"""The ranking is a pure function: messy enterprise names, communities from the address, who
comes first and why."""

from __future__ import annotations

import pytest

from quanzu.helpers.ranking import (
    ContactEntry,
    GuardEntry,
    Target,
    employer_similarity,
    normalise_community,
    normalise_enterprise,
    place_hint,
    places_in_address,
    rank,
    region_words,
)

REGIONS = region_words("江苏省", "苏州市", "吴江区", ["盛泽镇", "松陵街道", "震泽镇"])


def similarity(a: str, b: str) -> int:
    return employer_similarity(normalise_enterprise(a, REGIONS), normalise_enterprise(b, REGIONS), REGIONS)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("盛虹集团有限公司", "盛虹集团"),  # legal form
        ("江苏恒力化纤股份有限公司", "恒力集团"),  # region + what it makes + legal form
        ("苏州市吴江区亨通光电股份有限公司", "亨通光电"),  # city and district prefixes
        ("ＡＢＣ科技（苏州）有限公司", "abc科技"),  # full-width, brackets, case
        ("盛虹集團有限公司", "盛虹集团"),  # Traditional characters
        ("吴江丝绸印染厂", "吴江区丝绸印染有限公司"),  # a name that is only a place and a trade
        ("永鼎股份有限公司", "江苏永鼎股份"),
        ("苏州银行吴江支行", "苏州银行"),  # a branch is the same employer
        ("吴纺", "吴江纺织厂"),  # an abbreviation keeps the characters in order
        ("东方市场管理处", "中国东方丝绸市场"),
        ("鹰翔化纤", "江苏鹰翔化纤股份有限公司"),
        ("恒力化纤 （吴江） 有限公司", "恒力集团"),
    ],
)
def test_the_same_employer_written_differently_matches(a: str, b: str) -> None:
    assert similarity(a, b) >= 80
    assert similarity(b, a) == similarity(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("盛虹集团", "恒力集团"),  # two groups: only the legal form is shared
        ("亨通集团有限公司", "恒通集团"),  # one character apart, another company
        ("吴江纺织厂", "吴江丝绸厂"),  # the place is not a name
        ("盛泽纺织", "盛泽丝绸"),
        ("中国银行吴江支行", "农业银行吴江支行"),  # same branch town, other bank
        ("苏州银行", "中国银行"),  # "银行" alone is no name
        ("吴江区实验小学", "吴江区中学"),
        ("盛泽镇纺织有限公司", "纺织厂"),  # a trade alone matches nothing
    ],
)
def test_different_employers_do_not_match(a: str, b: str) -> None:
    assert similarity(a, b) < 80


def test_normalised_forms() -> None:
    assert normalise_enterprise("江苏恒力化纤股份有限公司", REGIONS) == "恒力化纤"
    assert normalise_enterprise("苏州银行吴江支行", REGIONS) == "苏州银行"
    assert normalise_enterprise("吴江纺织厂", REGIONS) == "吴江纺织"  # not "纺织": too generic
    assert normalise_enterprise(None) == "" and employer_similarity("", "恒力") == 0
    assert normalise_community("流虹社区居委会") == normalise_community("流虹社區") == "流虹"


def test_places_in_an_address_never_include_the_road() -> None:
    assert places_in_address("江苏省苏州市吴江区松陵街道流虹社区鲈乡南路8号", REGIONS) == (
        "松陵街道",
        "流虹社区",
    )
    assert places_in_address("吴江区盛泽镇黄家溪村12组", REGIONS) == ("盛泽镇", "黄家溪村")
    assert places_in_address("江苏省苏州市吴江区盛泽镇舜湖西路1号", REGIONS) == ("盛泽镇",)
    assert places_in_address(None) == ()
    hint = place_hint("盛虹集团有限公司", "江苏省苏州市吴江区盛泽镇黄家溪村12组", REGIONS)
    assert hint == "住在盛泽镇黄家溪村一带，在盛虹集团有限公司工作"


def guard(gid: int, employer: str | None, community: str | None, **flags: bool) -> GuardEntry:
    return GuardEntry(
        id=gid,
        employer=employer,
        community=community,
        trained=flags.get("trained", True),
        consented=flags.get("consented", True),
        active=flags.get("active", True),
    )


TARGET = Target(
    employer="江苏恒力化纤股份有限公司", address="吴江区松陵街道流虹社区鲈乡南路8号", regions=REGIONS
)


def test_ranking_order_and_reasons() -> None:
    ranked = rank(
        TARGET,
        [
            guard(1, "恒力集团", "江兴社区"),
            guard(2, "恒力化纤（吴江）有限公司", None),
            guard(3, "盛虹集团", "流虹社区"),
            guard(4, "恒力集团", "流虹社区"),  # both: employer and community
            guard(5, "恒力集团", None, trained=False),
            guard(6, "恒力集团", None, consented=False),
            guard(7, "恒力集团", "流虹社区", active=False),
            guard(8, "亨通集团", "江兴社区"),
        ],
        [ContactEntry(1, "work_leader", "车间主任"), ContactEntry(2, "relative", "女儿")],
    )
    order = [(c.kind, c.id) for c in ranked]
    assert order == [
        ("contact", 2),  # a relative: someone the target trusts
        ("contact", 1),  # the work-unit leader
        ("guard", 4),  # same employer and same community
        ("guard", 2),  # same employer, exact once normalised
        ("guard", 1),  # same employer, abbreviated
        ("guard", 3),  # same community only
        ("guard", 5),  # not trained
        ("guard", 6),  # no consent
    ]
    reasons = {(c.kind, c.id): c.reason for c in ranked}
    assert (
        reasons[("guard", 4)] == "同单位反诈卫士（单位名称匹配 97%：恒力集团 ≈ 江苏恒力化纤股份有限公司）；"
        "同社区反诈卫士（流虹社区）"
    )
    assert reasons[("guard", 2)] == "同单位反诈卫士（单位名称匹配 100%）"
    assert reasons[("guard", 3)] == "同社区反诈卫士（流虹社区）"
    assert reasons[("guard", 5)].endswith("；未参加培训")
    assert reasons[("guard", 6)].endswith("；未签署协助同意书")
    assert reasons[("contact", 1)] == "本人的单位领导（车间主任），对方信任的人"
    assert ranked[2].employer_match == 97 and ranked[5].employer_match is None
    assert all(ranked[i].score >= ranked[i + 1].score for i in range(len(ranked) - 1))


def test_no_employer_no_address_only_contacts_and_the_limit() -> None:
    bare = Target(employer=None, address=None)
    assert rank(bare, [guard(1, "恒力集团", "流虹社区")], []) == []
    many = rank(TARGET, [guard(i, "恒力集团", None) for i in range(1, 40)], [], limit=5)
    assert [c.id for c in many] == [1, 2, 3, 4, 5]
