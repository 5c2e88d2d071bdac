"""The demo feed: realistic synthetic warnings, posted through the real intake API."""

from __future__ import annotations

import logging
import random
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from quanzu.codes import SCAM_TYPE_LABELS
from quanzu.demo.people import mobile, person_name
from quanzu.demo.service import district_file
from quanzu.intel.synthetic import description as synthetic_description
from quanzu.kit.identifiers import id_check_char

log = logging.getLogger(__name__)

ROADS = (
    "人民路",
    "中山南路",
    "开平路",
    "仲英大道",
    "流虹路",
    "舜湖西路",
    "笠泽路",
    "云梨路",
    "长安路",
    "江兴东路",
)
EMPLOYERS = (
    "恒力集团有限公司",
    "盛虹集团有限公司",
    "亨通集团有限公司",
    "永鼎股份有限公司",
    "吴江丝绸印染厂",
    "东方市场管理处",
    "苏州银行吴江支行",
    "吴江区实验小学",
    None,
    None,
)
# Scam-type mix roughly as public statistics report it: order brushing and investment dominate.
SCAM_WEIGHTS = {
    "order_brushing": 28,
    "investment": 18,
    "loan": 10,
    "fake_customer_service": 10,
    "impersonate_authority": 8,
    "fake_credit": 7,
    "fake_shopping": 6,
    "impersonate_acquaintance": 5,
    "game_trading": 3,
    "romance": 4,
    "other": 1,
}
STORIES = {
    "order_brushing": "受害人在兼职群内接单刷单，已垫付多笔，对方要求继续做任务才能返利。",
    "investment": "受害人被拉入“炒股交流群”，在虚假投资APP上充值，正准备追加投资。",
    "loan": "受害人在网贷APP申请贷款，被要求先缴纳解冻金、保证金。",
    "fake_customer_service": "对方冒充快递客服称包裹丢失理赔，诱导受害人下载会议软件共享屏幕。",
    "impersonate_authority": "对方冒充公安称受害人涉嫌洗钱，要求将资金转入“安全账户”配合资金清查。",
    "fake_credit": "对方称受害人征信有问题，需注销校园贷账户并转账消除记录。",
    "fake_shopping": "受害人在二手平台购物，被引导至站外私下交易并多次付款。",
    "impersonate_acquaintance": "对方冒充单位领导添加QQ好友，要求代为转账。",
    "game_trading": "受害人在非官方平台交易游戏账号，被要求缴纳保证金。",
    "romance": "受害人与网恋对象交往数月，对方以投资博彩平台为由诱导充值。",
    "other": "可疑资金往来，需核实。",
}


# A few fraud rings behind many warnings: the same numbers, accounts, apps and sites recur across
# victims and stations, so the intelligence page (/intel) has something to rank and link.
RING_CONTACTS = (
    [{"kind": "phone", "value": f"+852 5{n:03d} 88{n:02d}"} for n in range(8)]
    + [{"kind": "phone", "value": f"171 0{n:03d} 66{n:02d}"} for n in range(6)]
    + [{"kind": "qq", "value": f"3{n}8866{n}21"} for n in range(5)]
    + [{"kind": "bank_account", "value": f"6222 0{n}12 3456 78{n}0 123"} for n in range(5)]
    + [
        {"kind": "url", "value": u}
        for u in (
            "https://www.jinniu-touzi.example/reg",
            "http://kf-tuikuan.example",
            "https://anquan.example/",
        )
    ]
)
OTHER_SHARE = 0.15  # warnings from the hotline and walk-ins often arrive without a type


class DemoFeed:
    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        district = district_file()
        self._areas = [a.name for b in district.branches for s in b.stations for a in s.areas]
        self._seen: list[dict[str, Any]] = []
        self._counter = 0

    def next_warning(self, now: datetime) -> dict[str, Any]:
        rng = self._rng
        self._counter += 1
        repeat = self._seen and rng.random() < 0.08
        target = rng.choice(self._seen) if repeat else self._new_target()
        self._seen = [*self._seen, target][-200:]
        scam = rng.choices(list(SCAM_WEIGHTS), weights=list(SCAM_WEIGHTS.values()))[0]
        untyped = scam != "other" and rng.random() < OTHER_SHARE
        text = synthetic_description(rng, scam) if untyped else f"【{SCAM_TYPE_LABELS[scam]}】{STORIES[scam]}"
        return {
            "external_id": f"DEMO-{now:%Y%m%d%H%M%S}-{self._counter:05d}-{rng.randrange(1_000_000):06d}",
            "source": rng.choice(("national", "provincial", "municipal", "hotline", "bank", "telecom")),
            "issued_at": (now - timedelta(seconds=rng.randrange(5, 90))).isoformat(),
            "target": target,
            "scam_type": "other" if untyped else scam,
            "risk_level": rng.choices(("low", "medium", "high", "extreme"), weights=(2, 4, 3, 1))[0],
            "amount_at_risk": str(rng.choice((2000, 5000, 20000, 50000, 120000, 300000, 800000))),
            "description": text,
            "scam_contacts": [
                rng.choice(RING_CONTACTS)
                if rng.random() < 0.6
                else {"kind": "phone", "value": f"+85{rng.randrange(10**9, 10**10)}"},
                {"kind": "app", "value": rng.choice(("云闪会", "币安智投", "ZOOM会议", "趣兼职"))},
            ],
        }

    def _new_target(self) -> dict[str, Any]:
        rng = self._rng
        kind = rng.random()
        if kind < 0.05:  # somewhere else, with a phone from elsewhere: lands in the centre's triage
            address, phone = "浙江省杭州市西湖区文三路90号", rng.choice(("13805710000", "13912345678"))
        elif kind < 0.12:  # no usable address: routed by the phone's home area
            address, phone = "", mobile(rng)
        else:
            address, phone = (
                f"江苏省苏州市吴江区{rng.choice(self._areas)}{rng.choice(ROADS)}{rng.randrange(1, 999)}号",
                mobile(rng),
            )
        age = rng.randrange(18, 82)
        return {
            "name": person_name(rng),
            "phone": phone,
            "id_number": self._id_number(age),
            "address": address or None,
            "employer": rng.choice(EMPLOYERS),
            "age": age,
            "gender": rng.choice(("male", "female")),
        }

    def _id_number(self, age: int) -> str:
        born = date(2026 - age, 1, 1) + timedelta(days=self._rng.randrange(365))
        first17 = f"320584{born:%Y%m%d}{self._rng.randrange(1000):03d}"  # 320584: Wujiang's code
        return first17 + id_check_char(first17)


def run_feed(url: str, token: str, interval_s: float, stop: threading.Event, seed: int | None = None) -> None:
    """Posts a warning every `interval_s` seconds until `stop` is set."""
    feed = DemoFeed(seed)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10, trust_env=False) as client:
        while not stop.wait(interval_s):
            body = feed.next_warning(datetime.now(UTC))
            try:
                r = client.post("/api/v1/warnings", json=body)
                log.info("demo feed: %s %s", r.status_code, r.text[:200])
            except httpx.HTTPError as exc:
                log.warning("demo feed: %s", exc)
