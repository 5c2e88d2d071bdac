"""The shared codes of DESIGN.md. Each choice set carries its Chinese label (and a badge colour), so
every page, report and API error takes them from one place."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CENTRE = "centre"
    BRANCH = "branch"
    CHIEF = "chief"
    DUTY_LEADER = "duty_leader"
    DISSUADER = "dissuader"
    GUARD = "guard"
    BANK = "bank"
    FEED = "feed"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLE_LABELS = {
    "centre": "反诈中心",
    "branch": "分局劝阻中队",
    "chief": "派出所所长",
    "duty_leader": "值班所领导",
    "dissuader": "劝阻员",
    "guard": "反诈卫士",
    "bank": "银行",
    "feed": "预警来源系统",
    "auditor": "审计",
    "admin": "系统管理员",
}

MACHINE_ROLES = frozenset({Role.FEED, Role.BANK})
OFFICER_ROLES = frozenset({Role.CHIEF, Role.DUTY_LEADER, Role.DISSUADER})


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    EXTREME = "extreme"

    @property
    def rank(self) -> int:
        return list(RiskLevel).index(self)


RISK_LABELS = {"low": "低", "medium": "中", "high": "高", "extreme": "极高"}
RISK_COLOURS = {"low": "grey", "medium": "blue", "high": "orange", "extreme": "red"}


class ScamType(StrEnum):
    ORDER_BRUSHING = "order_brushing"
    INVESTMENT = "investment"
    LOAN = "loan"
    FAKE_CUSTOMER_SERVICE = "fake_customer_service"
    IMPERSONATE_AUTHORITY = "impersonate_authority"
    FAKE_CREDIT = "fake_credit"
    FAKE_SHOPPING = "fake_shopping"
    IMPERSONATE_ACQUAINTANCE = "impersonate_acquaintance"
    GAME_TRADING = "game_trading"
    ROMANCE = "romance"
    OTHER = "other"


SCAM_TYPE_LABELS = {
    "order_brushing": "刷单返利",
    "investment": "虚假网络投资理财",
    "loan": "虚假网络贷款",
    "fake_customer_service": "冒充电商物流客服",
    "impersonate_authority": "冒充公检法",
    "fake_credit": "虚假征信",
    "fake_shopping": "虚假购物服务",
    "impersonate_acquaintance": "冒充领导熟人",
    "game_trading": "网络游戏产品虚假交易",
    "romance": "网络婚恋交友",
    "other": "其他",
}


class Source(StrEnum):
    NATIONAL = "national"
    PROVINCIAL = "provincial"
    MUNICIPAL = "municipal"
    HOTLINE = "hotline"
    BANK = "bank"
    TELECOM = "telecom"
    CITIZEN = "citizen"
    MANUAL = "manual"


class ContactKind(StrEnum):
    PHONE = "phone"
    QQ = "qq"
    WECHAT = "wechat"
    APP = "app"
    URL = "url"
    BANK_ACCOUNT = "bank_account"
    OTHER = "other"


class OrgKind(StrEnum):
    CENTRE = "centre"
    BRANCH = "branch"
    STATION = "station"
    TEAM = "team"


class DutyPosition(StrEnum):
    LEADER = "leader"
    MEMBER = "member"


class CaseState(StrEnum):
    TRIAGE = "triage"  # unroutable: waiting in the centre's triage queue
    DISPATCHED = "dispatched"  # at a station, team notified, not yet signed
    IN_PROGRESS = "in_progress"  # signed: the prescribed steps are under way
    CLOSED = "closed"


OPEN_CASE_STATES = frozenset({CaseState.TRIAGE, CaseState.DISPATCHED, CaseState.IN_PROGRESS})
STATE_LABELS = {"triage": "待分流", "dispatched": "待签收", "in_progress": "处置中", "closed": "已结案"}
