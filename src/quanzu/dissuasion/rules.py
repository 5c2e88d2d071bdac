"""The case state machine and the prescribed steps, as pure functions: one transition table,
one guard, and the policy's close rules. No I/O; unit-tested exhaustively."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from quanzu.codes import CaseState, RiskLevel
from quanzu.kit.errors import Conflict
from quanzu.policy.schemas import Policy


class Action(StrEnum):
    SIGN = "sign"
    STEP = "step"  # any prescribed step after signing
    CLOSE = "close"
    ESCALATE = "escalate"
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    TAKEOVER = "takeover"
    ROUTE = "route"
    REOPEN = "reopen"  # a warning sign on a follow-up callback, or a new warning, reopens it


_T, _D, _P, _C = CaseState.TRIAGE, CaseState.DISPATCHED, CaseState.IN_PROGRESS, CaseState.CLOSED
# Moves that leave the state as it is, allowed whenever a station holds the case.
_AT_STATION = (Action.ESCALATE, Action.ACKNOWLEDGE, Action.ASSIGN, Action.TAKEOVER, Action.ROUTE)

# (state, action) → next state. Anything not listed is illegal.
TRANSITIONS: dict[tuple[CaseState, Action], CaseState] = {
    (_T, Action.ROUTE): _D,
    (_T, Action.CLOSE): _C,  # the centre closes a false alarm straight from triage
    (_T, Action.ACKNOWLEDGE): _T,
    (_D, Action.SIGN): _P,
    **{(_D, a): _D for a in _AT_STATION},
    (_P, Action.STEP): _P,
    (_P, Action.CLOSE): _C,
    **{(_P, a): _P for a in _AT_STATION},
    (_C, Action.REOPEN): _P,
}

STATE_DESCRIPTIONS = {
    _T: "in the centre's triage queue",
    _D: "dispatched and not yet signed",
    _P: "in progress",
    _C: "closed",
}


def advance(state: str, action: Action) -> CaseState:
    """The next state, or a 409 that names the current one."""
    current = CaseState(state)
    nxt = TRANSITIONS.get((current, action))
    if nxt is None:
        raise Conflict(f"cannot {action} a case that is {current} ({STATE_DESCRIPTIONS[current]})")
    return nxt


# --- steps ----------------------------------------------------------------------------------------

STEP_OUTCOMES: dict[str, frozenset[str]] = {
    "phone": frozenset(
        {"answered", "dissuaded", "not_convinced", "no_answer", "refused", "wrong_number", "powered_off"}
    ),
    "analysis": frozenset({"located", "not_located", "done"}),
    "onsite_search": frozenset({"found", "not_found"}),
    "verify_identity": frozenset({"verified", "mismatch"}),
    "face_to_face": frozenset({"dissuaded", "not_convinced"}),
}
# Outcomes that mean someone actually spoke with the target: the "first contact" KPI and SLA.
TWO_WAY_CONTACT = frozenset(
    {
        ("phone", "answered"),
        ("phone", "dissuaded"),
        ("phone", "not_convinced"),
        ("phone", "refused"),
        ("face_to_face", "dissuaded"),
        ("face_to_face", "not_convinced"),
    }
)


def step_action(kind: str) -> Action:
    return Action.SIGN if kind == "sign" else Action.STEP


@dataclass(frozen=True, slots=True)
class DoneStep:
    kind: str
    outcome: str | None
    ended: bool


def close_shortfalls(policy: Policy, risk: str, outcome: str, steps: Iterable[DoneStep]) -> list[str]:
    """What is missing before a case may close with `outcome`; empty when it may."""
    done = [s for s in steps if s.ended]
    kinds = {s.kind for s in done}
    required = policy.close_rules[RiskLevel(risk)][outcome]
    missing = [f"step {k} not done" for k in required if k not in kinds]
    if outcome == "dissuaded" and not any(s.outcome == "dissuaded" for s in done):
        missing.append("no call or meeting recorded the target as dissuaded")
    return missing
