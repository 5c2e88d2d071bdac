"""Importing this package registers every table on the shared metadata (Alembic needs them all)."""

from quanzu.models.audit import AuditEntry
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
from quanzu.models.helpers import Guard, HelpRequest, PersonContact
from quanzu.models.org import DutyShift, JurisdictionArea, OrgUnit, User
from quanzu.models.timers import Timer

__all__ = [
    "ApiClient",
    "ApiToken",
    "AuditEntry",
    "Bank",
    "BankBranch",
    "BankEvent",
    "Case",
    "CaseAssignee",
    "CaseEvent",
    "CaseSla",
    "CaseStep",
    "ChannelEndpointRow",
    "DeliveryAttempt",
    "DutyShift",
    "EarlyWarning",
    "Guard",
    "HelpRequest",
    "JurisdictionArea",
    "Notification",
    "OrgUnit",
    "OutboxMessage",
    "Person",
    "PersonContact",
    "ReverseCheckEntry",
    "ScamContact",
    "StopPayment",
    "StopPaymentAccount",
    "Timer",
    "User",
    "WatchEntry",
    "WatchIdentifier",
]
