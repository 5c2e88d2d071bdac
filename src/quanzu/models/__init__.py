"""Importing this package registers every table on the shared metadata (Alembic needs them all)."""

from quanzu.models.audit import AuditEntry, ScreeningRecord
from quanzu.models.auth import ApiClient, ApiToken
from quanzu.models.banks import (
    Bank,
    BankBranch,
    BankEvent,
    StopPayment,
    StopPaymentAccount,
    WatchEntry,
    WatchIdentifier,
)
from quanzu.models.briefings import Briefing
from quanzu.models.cases import (
    Case,
    CaseAssignee,
    CaseEvent,
    CaseSla,
    CaseStep,
    EarlyWarning,
    Person,
    ReverseCheckEntry,
    ScamContact,
)
from quanzu.models.dispatch import ChannelEndpointRow, DeliveryAttempt, Notification, OutboxMessage
from quanzu.models.followups import AwakeningSession, FollowUpCallback, FollowUpPlan, ProtectiveAction
from quanzu.models.helpers import Guard, HelpRequest, PersonContact
from quanzu.models.intel import FraudIdentifier, FraudSighting, ScamSuggestion
from quanzu.models.org import DutyShift, JurisdictionArea, OrgUnit, User
from quanzu.models.reports import KpiDay, KpiDayDuration, KpiDaySla, KpiRollupDay
from quanzu.models.review import AccountabilityNotice, CaseReview, ReviewFinding, TrainingRecord
from quanzu.models.timers import Timer

__all__ = [
    "AccountabilityNotice",
    "ApiClient",
    "ApiToken",
    "AuditEntry",
    "AwakeningSession",
    "Bank",
    "BankBranch",
    "BankEvent",
    "Briefing",
    "Case",
    "CaseAssignee",
    "CaseEvent",
    "CaseReview",
    "CaseSla",
    "CaseStep",
    "ChannelEndpointRow",
    "DeliveryAttempt",
    "DutyShift",
    "EarlyWarning",
    "FollowUpCallback",
    "FollowUpPlan",
    "FraudIdentifier",
    "FraudSighting",
    "Guard",
    "HelpRequest",
    "JurisdictionArea",
    "KpiDay",
    "KpiDayDuration",
    "KpiDaySla",
    "KpiRollupDay",
    "Notification",
    "OrgUnit",
    "OutboxMessage",
    "Person",
    "PersonContact",
    "ProtectiveAction",
    "ReverseCheckEntry",
    "ReviewFinding",
    "ScamContact",
    "ScamSuggestion",
    "ScreeningRecord",
    "StopPayment",
    "StopPaymentAccount",
    "Timer",
    "TrainingRecord",
    "User",
    "WatchEntry",
    "WatchIdentifier",
]
