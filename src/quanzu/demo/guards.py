"""12,000 synthetic anti-fraud guards across the demo district's enterprises and communities, as
the Wujiang figures report — written the messy way registries are (恒力集团 here, 江苏恒力化纤股份
有限公司 there), so the tolerant matching has something to do."""

from __future__ import annotations

import random

from sqlalchemy.orm import Session

from quanzu.demo.people import person_name
from quanzu.helpers import repository
from quanzu.helpers.registry import bulk_guard_rows
from quanzu.helpers.schemas import GuardRowIn
from quanzu.helpers.service import regions
from quanzu.kit.runtime import Runtime
from quanzu.org.schemas import OrgFile

DEMO_GUARDS = 12_000
ENTERPRISE_SHARE = 0.65  # most guards are enterprise guards (企业反诈卫士)

# The demo feed's employers, each with the ways people write it.
KNOWN_ENTERPRISES: tuple[tuple[str, ...], ...] = (
    ("恒力集团有限公司", "恒力集团", "江苏恒力化纤股份有限公司", "恒力化纤"),
    ("盛虹集团有限公司", "盛虹集团", "江苏盛虹科技股份有限公司", "盛虹"),
    ("亨通集团有限公司", "亨通集团", "江苏亨通光电股份有限公司", "亨通光电"),
    ("永鼎股份有限公司", "江苏永鼎股份有限公司", "永鼎"),
    ("吴江丝绸印染厂", "吴江区丝绸印染有限公司"),
    ("东方市场管理处", "中国东方丝绸市场", "东方市场"),
    ("苏州银行吴江支行", "苏州银行"),
    ("吴江区实验小学", "吴江实验小学"),
)
BRANDS = [
    "鹰翔",
    "华佳",
    "新民",
    "京奕",
    "德尔",
    "通鼎",
    "恒宇",
    "永前",
    "博众",
    "汇川",
    "中鲈",
    "巨峰",
    "康力",
    "维信",
    "明珠",
    "富士",
    "申久",
    "金谷",
    "双盈",
    "嘉润",
    "海晨",
    "同里湖",
    "震泽湖",
    "七都",
    "苏美达",
    "华东",
    "吴越",
    "天顺",
    "瑞晟",
    "立达",
    "宏润",
    "澳洋",
    "长盈",
    "金源",
    "环宇",
    "银河",
    "锦程",
    "振华",
    "盛达",
    "晨风",
    "江南",
    "太湖",
    "鲈乡",
    "垂虹",
    "笠泽",
    "松陵",
    "运河",
    "莺湖",
    "黎里",
    "芦墟",
]
INDUSTRIES = (
    "纺织",
    "化纤",
    "丝绸",
    "电子",
    "科技",
    "精密机械",
    "光电",
    "电缆",
    "服饰",
    "新材料",
    "物流",
    "印染",
)
FORMS = ("有限公司", "股份有限公司", "集团有限公司", "有限责任公司", "厂")


def _enterprises(rng: random.Random) -> list[tuple[str, ...]]:
    """Each enterprise as (official name, variants…)."""
    out = list(KNOWN_ENTERPRISES)
    for brand in BRANDS:
        for industry in rng.sample(INDUSTRIES, 3):
            official = f"苏州{brand}{industry}{rng.choice(FORMS)}"
            out.append(
                (
                    official,
                    f"{brand}{industry}",
                    f"吴江{brand}{industry}有限公司",
                    f"{brand}{industry}（吴江）",
                )
            )
    return out


def _communities(org: OrgFile) -> list[str]:
    return [
        area.name
        for branch in org.branches
        for station in branch.stations
        for area in station.areas
        if area.level in ("community", "village")
    ]


def demo_guards(org: OrgFile, rng: random.Random, count: int = DEMO_GUARDS) -> list[GuardRowIn]:
    enterprises = _enterprises(rng)
    communities = _communities(org)
    phones = rng.sample(range(10**8), count)  # unique numbers: 139 + 8 digits
    guards = []
    for i in range(count):
        at_work = rng.random() < ENTERPRISE_SHARE
        employer = rng.choice(rng.choice(enterprises)) if at_work else None
        guards.append(
            GuardRowIn.model_construct(  # synthetic and known-good: no per-row validation for 12,000
                name=person_name(rng),
                phone=f"+86139{phones[i]:08d}",
                employer=employer,
                workplace=rng.choice(("一车间", "二车间", "行政部", "保卫科", "仓储部", "财务部"))
                if at_work
                else None,
                community=rng.choice(communities),
                trained=rng.random() < 0.85,
                consented=rng.random() < 0.92,
                active=rng.random() < 0.96,
            )
        )
    return guards


def load_guards(session: Session, rt: Runtime, org: OrgFile, rng: random.Random) -> int:
    """Idempotent: guards whose phone is registered already are left alone. Returns how many
    were added."""
    existing = repository.existing_phone_bidxs(session)
    missing = [
        g for g in demo_guards(org, rng) if rt.cipher.blind_index(g.phone, kind="phone") not in existing
    ]
    repository.insert_guards(session, bulk_guard_rows(rt, missing, regions(session, rt)))
    return len(missing)
