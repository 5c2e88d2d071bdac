"""The transition table and the close rules, exhaustively (pure, no database)."""

from __future__ import annotations

import itertools

import pytest

from quanzu.codes import CaseState
from quanzu.dissuasion.rules import TRANSITIONS, Action, DoneStep, advance, close_shortfalls
from quanzu.kit.errors import Conflict
from quanzu.policy.service import load_policy

POLICY = load_policy()
LEGAL = {
    (CaseState.TRIAGE, Action.ROUTE): CaseState.DISPATCHED,
    (CaseState.TRIAGE, Action.CLOSE): CaseState.CLOSED,
    (CaseState.TRIAGE, Action.ACKNOWLEDGE): CaseState.TRIAGE,
    (CaseState.DISPATCHED, Action.SIGN): CaseState.IN_PROGRESS,
    (CaseState.DISPATCHED, Action.ESCALATE): CaseState.DISPATCHED,
    (CaseState.DISPATCHED, Action.ACKNOWLEDGE): CaseState.DISPATCHED,
    (CaseState.DISPATCHED, Action.ASSIGN): CaseState.DISPATCHED,
    (CaseState.DISPATCHED, Action.TAKEOVER): CaseState.DISPATCHED,
    (CaseState.DISPATCHED, Action.ROUTE): CaseState.DISPATCHED,
    (CaseState.IN_PROGRESS, Action.STEP): CaseState.IN_PROGRESS,
    (CaseState.IN_PROGRESS, Action.CLOSE): CaseState.CLOSED,
    (CaseState.IN_PROGRESS, Action.ESCALATE): CaseState.IN_PROGRESS,
    (CaseState.IN_PROGRESS, Action.ACKNOWLEDGE): CaseState.IN_PROGRESS,
    (CaseState.IN_PROGRESS, Action.ASSIGN): CaseState.IN_PROGRESS,
    (CaseState.IN_PROGRESS, Action.TAKEOVER): CaseState.IN_PROGRESS,
    (CaseState.IN_PROGRESS, Action.ROUTE): CaseState.IN_PROGRESS,
    # A warning sign on a follow-up callback, or a new warning during follow-up (followups).
    (CaseState.CLOSED, Action.REOPEN): CaseState.IN_PROGRESS,
}
ALL = list(itertools.product(CaseState, Action))


def test_the_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == LEGAL


@pytest.mark.parametrize(("state", "action"), [p for p in ALL if p in LEGAL], ids=str)
def test_legal_moves(state: CaseState, action: Action) -> None:
    assert advance(state, action) == LEGAL[(state, action)]


@pytest.mark.parametrize(("state", "action"), [p for p in ALL if p not in LEGAL], ids=str)
def test_illegal_moves_are_409_naming_the_state(state: CaseState, action: Action) -> None:
    with pytest.raises(Conflict) as err:
        advance(state, action)
    assert err.value.status_code == 409
    assert f"a case that is {state}" in err.value.message


def steps(*done: str, outcome: dict[str, str] | None = None) -> list[DoneStep]:
    outcomes = outcome or {}
    return [DoneStep(kind, outcomes.get(kind), ended=True) for kind in done]


@pytest.mark.parametrize(
    ("risk", "outcome", "done", "missing"),
    [
        ("low", "not_fraud", steps("sign", "phone", outcome={"phone": "answered"}), []),
        ("low", "not_fraud", steps("sign"), ["step phone not done"]),
        ("low", "dissuaded", steps("sign", "phone", outcome={"phone": "dissuaded"}), []),
        (
            "low",
            "dissuaded",
            steps("sign", "phone", outcome={"phone": "answered"}),
            ["no call or meeting recorded the target as dissuaded"],
        ),
        ("medium", "dissuaded", steps("sign", "phone", outcome={"phone": "dissuaded"}), []),
        (
            "high",
            "dissuaded",
            steps("sign", "phone", outcome={"phone": "dissuaded"}),
            ["step face_to_face not done"],
        ),
        (
            "high",
            "dissuaded",
            steps("sign", "phone", "face_to_face", outcome={"face_to_face": "dissuaded"}),
            [],
        ),
        (
            "extreme",
            "dissuaded",
            steps("sign", "phone", "face_to_face", outcome={"face_to_face": "dissuaded"}),
            ["step analysis not done"],
        ),
        ("extreme", "unreachable", steps("sign", "phone", "analysis"), ["step onsite_search not done"]),
        ("high", "lost", steps("sign", "phone"), []),
    ],
)
def test_close_rules_follow_the_policy(
    risk: str, outcome: str, done: list[DoneStep], missing: list[str]
) -> None:
    assert close_shortfalls(POLICY, risk, outcome, done) == missing


def test_a_started_but_unfinished_step_does_not_count() -> None:
    started = [DoneStep("sign", None, True), DoneStep("phone", None, ended=False)]
    assert close_shortfalls(POLICY, "low", "not_fraud", started) == ["step phone not done"]
