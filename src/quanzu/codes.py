"""The shared codes of DESIGN.md. Each choice set carries its Chinese label (and a badge colour), so
every page, report and API error takes them from one place."""

from __future__ import annotations

from datetime import timedelta
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
# The repeat-warning KPI (DESIGN.md): a case whose person had another warning received within
# this window before the case opened. Decided when the case opens and kept on it
# (`Case.repeat_warned_30d`); migration 0016 backfilled it with the same 720 hours.
REPEAT_WARNING_WINDOW = timedelta(days=30)
STATE_LABELS = {"triage": "待分流", "dispatched": "待签收", "in_progress": "处置中", "closed": "已结案"}


class HelperKind(StrEnum):
    """Who is asked to reach a target (社会力量)."""

    GUARD = "guard"  # 反诈卫士 at the target's employer or community
    RELATIVE = "relative"
    WORK_LEADER = "work_leader"
    COMMUNITY_WORKER = "community_worker"  # village/community worker, grid member (网格员)


HELPER_KIND_LABELS = {
    "guard": "反诈卫士",
    "relative": "亲属",
    "work_leader": "单位领导",
    "community_worker": "村/社区工作人员",
}


class HelpAnswer(StrEnum):
    """What a helper answers through the one-time link."""

    REACHED_STOPPED = "reached_stopped"
    REACHED_NOT_CONVINCED = "reached_not_convinced"
    CANNOT_FIND = "cannot_find"
    CANNOT_GO = "cannot_go"


# A helper who reached the target had a two-way contact with them (KPI: time to first contact).
HELP_REACHED = frozenset({HelpAnswer.REACHED_STOPPED, HelpAnswer.REACHED_NOT_CONVINCED})
HELP_ANSWER_LABELS = {
    "reached_stopped": "已见到本人，已劝住（停止转账）",
    "reached_not_convinced": "已见到本人，但未被说服",
    "cannot_find": "找不到本人",
    "cannot_go": "无法前往",
}
HELP_STATUS_LABELS = {
    "sent": "已发送",
    "opened": "已打开",
    "answered": "已反馈",
    "expired": "已过期",
}


# --- after the meeting: follow-ups (回访), awakening room (反诈叫醒室), protective actions ----------

# Signs, seen on a follow-up callback, that the fraudster is back: each reopens the case.
WARNING_SIGN_LABELS = {
    "renewed_contact": "再次与骗子联系",
    "new_app": "新装可疑应用",
    "bank_inquiry": "再次向银行询问转账",
    "transfer_intent": "仍打算转账",
}
CALLBACK_STATUS_LABELS = {
    "planned": "待回访",
    "due": "应回访",
    "overdue": "回访逾期",
    "reached": "已回访（联系上）",
    "not_reached": "已回访（未联系上）",
}
AWAKENING_STATE_LABELS = {"scheduled": "已安排", "held": "已开展"}
AWAKENING_OUTCOME_LABELS = {"awakened": "已醒悟", "partly": "半信半疑", "not_awakened": "仍未醒悟"}


class ProtectiveAction(StrEnum):
    """The protective actions taken for a target: a fixed checklist on the case."""

    APPS_REMOVED = "apps_removed"
    PHONE_SCANNED = "phone_scanned"
    SECOND_PHONE_FOUND = "second_phone_found"
    BANK_WATCH_REQUESTED = "bank_watch_requested"
    RELATIVES_INFORMED = "relatives_informed"
    CONTACT_REPORTED = "contact_reported"


PROTECTIVE_ACTION_LABELS = {
    "apps_removed": "已卸载诈骗APP、删除涉诈聊天",
    "phone_scanned": "手机已查杀",
    "second_phone_found": "已查出隐藏的备用手机",
    "bank_watch_requested": "已请银行关注",
    "relatives_informed": "已告知亲属",
    "contact_reported": "涉诈线索已上报",
}

# The SLA clocks (policy `sla`), as officers, reviewers and the daily briefing name them.
SLA_LABELS = {"sign": "签收", "first_contact": "首次联系", "face_to_face": "会面宣防", "feedback": "平台反馈"}
