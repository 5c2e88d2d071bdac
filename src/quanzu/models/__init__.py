"""Importing this package registers every table on the shared metadata (Alembic needs them all)."""

from quanzu.models.audit import AuditEntry
from quanzu.models.auth import ApiClient, ApiToken
from quanzu.models.cases import Case, CaseAssignee, CaseEvent, EarlyWarning, Person, ScamContact
from quanzu.models.dispatch import ChannelEndpointRow, DeliveryAttempt, Notification, OutboxMessage
from quanzu.models.org import DutyShift, JurisdictionArea, OrgUnit, User

__all__ = [
    "ApiClient",
    "ApiToken",
    "AuditEntry",
    "Case",
    "CaseAssignee",
    "CaseEvent",
    "ChannelEndpointRow",
    "DeliveryAttempt",
    "DutyShift",
    "EarlyWarning",
    "JurisdictionArea",
    "Notification",
    "OrgUnit",
    "OutboxMessage",
    "Person",
    "ScamContact",
    "User",
]
