"""Explained risk (风险研判): a score from transparent factors, each with its points, so an officer
sees why. The score is the plain sum of the factors' points (no cap, no hidden weighting); the
level follows from fixed thresholds. A pure function: the same inputs always give the same score,
on the case page, in the API and at intake."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quanzu.codes import SCAM_TYPE_LABELS

# Thresholds: a score at or above the first number is that level.
LEVEL_THRESHOLDS = (("extreme", 60), ("high", 40), ("medium", 20))

# Amount at risk, yuan: the first band the amount reaches.
AMOUNT_BANDS = ((Decimal(1_000_000), 30), (Decimal(100_000), 22), (Decimal(10_000), 12), (Decimal(1_000), 5))
ELDERLY_AGE, ELDERLY_POINTS = 65, 12
YOUNG_AGE, YOUNG_POINTS = 22, 6
# Per scam type: how fast and how much money typically leaves (public loss statistics: the
# impersonation and investment types lose the most per victim).
SCAM_TYPE_POINTS = {
    "impersonate_authority": 15,
    "investment": 12,
    "romance": 10,
    "fake_customer_service": 10,
    "order_brushing": 8,
    "loan": 8,
    "fake_credit": 8,
    "impersonate_acquaintance": 8,
    "game_trading": 4,
    "fake_shopping": 3,
    "other": 5,
}
REPEAT_POINTS, REPEAT_MAX = 8, 24  # per warning beyond the first
WATCH_POINTS = 5  # on the banks' watch list
BANK_EVENT_POINTS, BANK_EVENT_MAX = 12, 24  # per attempt a bank reported
REMOTE_APP_POINTS = 15
PAID_ONCE_POINTS = 15
# Phrases (normalised: Simplified, lower case) that say a remote-control or screen-sharing app is
# installed, or that money has already gone once (the fraudster will come back for more).
REMOTE_APP_PHRASES = (
    "屏幕共享",
    "共享屏幕",
    "远程控制",
    "远程协助",
    "会议软件",
    "向日葵",
    "todesk",
    "teamviewer",
    "anydesk",
    "zoom",
    "腾讯会议",
)
PAID_ONCE_PHRASES = ("已转账", "已付款", "已汇款", "已充值", "已垫付", "已转", "转了", "已支付", "已缴纳")


@dataclass(frozen=True, slots=True)
class RiskInputs:
    amount_at_risk: Decimal | None
    age: int | None
    scam_type: str
    signal_count: int
    watched: bool
    bank_events: int
    text: str  # normalised descriptions (intel.text.normalise)


@dataclass(frozen=True, slots=True)
class Factor:
    code: str
    label: str
    detail: str
    points: int


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    score: int
    level: str
    factors: tuple[Factor, ...]


def level_for(score: int) -> str:
    return next((level for level, at in LEVEL_THRESHOLDS if score >= at), "low")


def assess(inputs: RiskInputs) -> RiskAssessment:
    factors = [f for f in _factors(inputs) if f.points]
    score = sum(f.points for f in factors)
    return RiskAssessment(score=score, level=level_for(score), factors=tuple(factors))


def _factors(i: RiskInputs) -> list[Factor]:
    out = [_amount(i.amount_at_risk), _age(i.age)]
    type_points = SCAM_TYPE_POINTS.get(i.scam_type, SCAM_TYPE_POINTS["other"])
    out.append(Factor("scam_type", "诈骗类型", SCAM_TYPE_LABELS.get(i.scam_type, i.scam_type), type_points))
    repeats = max(i.signal_count - 1, 0)
    out.append(
        Factor("repeat", "重复预警", f"共 {i.signal_count} 次预警", min(repeats * REPEAT_POINTS, REPEAT_MAX))
    )
    out.append(Factor("watch", "银行布控", "在银行布控名单上", WATCH_POINTS if i.watched else 0))
    out.append(
        Factor(
            "bank_events",
            "银行报告",
            f"银行报告 {i.bank_events} 次取款/转账企图",
            min(i.bank_events * BANK_EVENT_POINTS, BANK_EVENT_MAX),
        )
    )
    remote = next((p for p in REMOTE_APP_PHRASES if p in i.text), None)
    out.append(
        Factor(
            "remote_app",
            "已装远程控制/共享屏幕软件",
            f"描述提到“{remote}”",
            REMOTE_APP_POINTS if remote else 0,
        )
    )
    paid = next((p for p in PAID_ONCE_PHRASES if p in i.text), None)
    out.append(Factor("paid_once", "已付过款", f"描述提到“{paid}”", PAID_ONCE_POINTS if paid else 0))
    return out


def _amount(amount: Decimal | None) -> Factor:
    points = next((p for at, p in AMOUNT_BANDS if amount is not None and amount >= at), 0)
    return Factor("amount", "涉案金额", f"{amount:,.0f} 元" if amount is not None else "", points)


def _age(age: int | None) -> Factor:
    if age is not None and age >= ELDERLY_AGE:
        return Factor("age", "年龄", f"{age} 岁（老年人）", ELDERLY_POINTS)
    if age is not None and age <= YOUNG_AGE:
        return Factor("age", "年龄", f"{age} 岁（青年学生）", YOUNG_POINTS)
    return Factor("age", "年龄", "", 0)
