"""The stop-payment request's state machine: one transition table, one guard."""

from __future__ import annotations

from enum import StrEnum

from quanzu.kit.errors import Conflict


class StopState(StrEnum):
    REQUESTED = "requested"  # filed by an officer, waiting for the bank
    ACKNOWLEDGED = "acknowledged"  # the bank is acting on it
    STOPPED = "stopped"  # every account frozen for the amount asked
    PARTIAL = "partial"  # some money frozen
    FAILED = "failed"  # nothing could be frozen (already moved on)
    CANCELLED = "cancelled"  # withdrawn by the officers


class StopAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    REPORT = "report"
    CANCEL = "cancel"


OPEN_STOP_STATES = frozenset({StopState.REQUESTED, StopState.ACKNOWLEDGED})
_ALLOWED = {
    StopState.REQUESTED: {StopAction.ACKNOWLEDGE, StopAction.REPORT, StopAction.CANCEL},
    StopState.ACKNOWLEDGED: {StopAction.REPORT, StopAction.CANCEL},
}
STOP_STATE_LABELS = {
    "requested": "待银行确认",
    "acknowledged": "银行已确认",
    "stopped": "已止付",
    "partial": "部分止付",
    "failed": "止付失败",
    "cancelled": "已撤回",
}


def guard(state: str, action: StopAction) -> None:
    if action not in _ALLOWED.get(StopState(state), set()):
        label = STOP_STATE_LABELS.get(state, state)
        raise Conflict(f"stop-payment request is {state} ({label}); cannot {action}")


def outcome(results: list[str]) -> StopState:
    """The request's final state from each account's result."""
    if all(r == "stopped" for r in results):
        return StopState.STOPPED
    if all(r == "failed" for r in results):
        return StopState.FAILED
    return StopState.PARTIAL
