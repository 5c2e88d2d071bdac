"""A small district for tests (three stations of the demo's shape), tokens, and warning bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event

from quanzu.auth import service as auth
from quanzu.banks import service as banks
from quanzu.codes import Role
from quanzu.kit.db import transaction
from quanzu.kit.identifiers import id_check_char
from quanzu.org.service import import_org
from tests.conftest import Env

PASSWORD = "correct horse battery"

ORG: dict[str, Any] = {
    "centre": {
        "code": "WJ",
        "name": "吴江区反诈中心",
        "province": "江苏省",
        "city": "苏州市",
        "district": "吴江区",
        "phone_fallback_station": "SL",
        "phone_home_areas": ["江苏省苏州市"],
    },
    "branches": [
        {
            "code": "B1",
            "name": "城区分局劝阻中队",
            "stations": [
                {
                    "code": "SL",
                    "name": "松陵派出所",
                    "phone": "0512-63000201",
                    "areas": [
                        {"name": "松陵街道", "level": "street", "aliases": ["松陵镇", "松陵"]},
                        {"name": "流虹社区", "level": "community"},
                    ],
                    "teams": [{"code": "SL-T1", "name": "松陵劝阻专班"}],
                },
                {
                    "code": "TL",
                    "name": "同里派出所",
                    "areas": [{"name": "同里镇", "level": "town", "aliases": ["同里"]}],
                    "teams": [],
                },
            ],
        },
        {
            "code": "B3",
            "name": "盛泽分局劝阻中队",
            "stations": [
                {
                    "code": "SZ",
                    "name": "盛泽派出所",
                    "areas": [
                        {"name": "盛泽镇", "level": "town", "aliases": ["盛泽"]},
                        {"name": "黄家溪村", "level": "village"},
                    ],
                    "teams": [{"code": "SZ-T1", "name": "盛泽劝阻专班"}],
                },
            ],
        },
    ],
    "users": [
        {
            "username": "centre",
            "display_name": "中心值班",
            "role": "centre",
            "unit": "WJ",
            "password": PASSWORD,
        },
        {"username": "auditor", "display_name": "审计", "role": "auditor", "unit": "WJ"},
        {"username": "b1-squad", "display_name": "城区中队", "role": "branch", "unit": "B1"},
        {"username": "sl-chief", "display_name": "松陵所长", "role": "chief", "unit": "SL"},
        {"username": "sl-leader-day", "display_name": "白班所领导", "role": "duty_leader", "unit": "SL"},
        {"username": "sl-leader-night", "display_name": "夜班所领导", "role": "duty_leader", "unit": "SL"},
        {
            "username": "sl-d1",
            "display_name": "劝阻员甲",
            "role": "dissuader",
            "unit": "SL-T1",
            "password": PASSWORD,
        },
        {"username": "sl-d2", "display_name": "劝阻员乙", "role": "dissuader", "unit": "SL-T1"},
        {"username": "sl-d3", "display_name": "劝阻员丙", "role": "dissuader", "unit": "SL-T1"},
        {"username": "sz-leader", "display_name": "盛泽所领导", "role": "duty_leader", "unit": "SZ"},
        {"username": "sz-d1", "display_name": "盛泽劝阻员", "role": "dissuader", "unit": "SZ-T1"},
    ],
}


def roster(day_start: datetime) -> list[dict[str, Any]]:
    """SL: a day shift (sl-leader-day, sl-d1, sl-d2) 08–20 local and a night shift
    (sl-leader-night, sl-d3) 20–08; SZ: sz-leader and sz-d1 around the clock. `day_start` is
    08:00 local of the test day."""
    night = day_start + timedelta(hours=12)
    nxt = day_start + timedelta(hours=24)

    def shift(user: str, station: str, position: str, a: datetime, b: datetime) -> dict[str, Any]:
        return {
            "user": user,
            "station": station,
            "position": position,
            "starts_at": a.isoformat(),
            "ends_at": b.isoformat(),
        }

    return [
        shift("sl-leader-day", "SL", "leader", day_start, night),
        shift("sl-d1", "SL", "member", day_start, night),
        shift("sl-d2", "SL", "member", day_start, night),
        shift("sl-leader-night", "SL", "leader", night, nxt),
        shift("sl-d3", "SL", "member", night, nxt),
        shift("sz-leader", "SZ", "leader", day_start - timedelta(days=1), nxt + timedelta(days=1)),
        shift("sz-d1", "SZ", "member", day_start - timedelta(days=1), nxt + timedelta(days=1)),
    ]


@dataclass
class District:
    feed_token: str
    bank_token: str  # the system of bank WJRCB (吴江农商银行)
    tokens: dict[str, str]  # username → personal token
    bank_key: str = ""  # WJRCB's blinding key (hex)
    other_bank_token: str = ""  # another bank's system (ICBC)


def seed(env: Env, *, with_roster: bool = True) -> District:
    day_start = env.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)  # 08:00 in Suzhou
    org = dict(ORG, roster=roster(day_start) if with_roster else [])
    with transaction(env.factory) as session:
        import_org(session, env.rt, org)
        feed = auth.create_client(session, env.rt, "national-feed", Role.FEED)
        wjrcb, bank_key = banks.register_bank(session, env.rt, "WJRCB", "吴江农商银行")
        banks.add_branch(session, env.rt, "WJRCB", "SZ01", "盛泽支行")
        bank = auth.create_client(session, env.rt, "bank-of-wujiang", Role.BANK, bank_id=wjrcb.id)
        other, _ = banks.register_bank(session, env.rt, "ICBC", "工商银行吴江支行")
        other_bank = auth.create_client(session, env.rt, "icbc-wujiang", Role.BANK, bank_id=other.id)
        tokens = {
            u["username"]: auth.create_personal_token(session, env.rt, u["username"]) for u in ORG["users"]
        }
    return District(
        feed_token=feed, bank_token=bank, tokens=tokens, bank_key=bank_key, other_bank_token=other_bank
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def id_number(birth: str = "19800101", seq: str = "123") -> str:
    first17 = f"320584{birth}{seq}"
    return first17 + id_check_char(first17)


def fraud_phone(external_id: str) -> str:
    """The default warning's fraudster phone: one per warning, so unrelated test cases are not
    linked as the same fraud ring (quanzu.intel) unless a test says so."""
    return "+852" + str(int(hashlib.sha256(external_id.encode()).hexdigest(), 16) % 10**8).zfill(8)


def warning(external_id: str = "N-0001", **overrides: Any) -> dict[str, Any]:
    target = {
        "name": "张三丰",
        "phone": "13862512345",
        "id_number": id_number(),
        "address": "江苏省苏州市吴江区盛泽镇舜湖西路1号",
        "employer": "盛虹集团有限公司",
        "age": 46,
        "gender": "male",
    }
    target.update(overrides.pop("target", {}))
    body: dict[str, Any] = {
        "external_id": external_id,
        "source": "national",
        "issued_at": "2026-11-28T13:58:00+08:00",
        "target": target,
        "scam_type": "order_brushing",
        "risk_level": "high",
        "amount_at_risk": "50000.00",
        "description": "受害人在兼职群刷单，已垫付三笔",
        "scam_contacts": [
            {"kind": "phone", "value": fraud_phone(external_id)},
            {"kind": "app", "value": "趣兼职"},
        ],
    }
    body.update(overrides)
    return body


@contextmanager
def statements_sent(env: Env, wanted: Callable[[str], bool]) -> Iterator[list[str]]:
    """The statements the app's engine sends while the block runs that `wanted` picks."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if wanted(statement):
            seen.append(statement)

    engine = env.app.state.quanzu.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)
