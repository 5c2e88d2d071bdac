"""What the intelligence API reads and answers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from quanzu.codes import ScamType


class DriverOut(BaseModel):
    term: str
    weight: float


class SuggestionOut(BaseModel):
    scam_type: str | None
    label: str | None
    confidence: float
    drivers: list[DriverOut]
    model: str
    offered: bool  # above the policy's least confidence and the case still needs a type
    decision: str | None = None  # confirmed | corrected
    decided_type: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None


class FactorOut(BaseModel):
    code: str
    label: str
    detail: str
    points: int


class RiskOut(BaseModel):
    score: int
    level: str
    current_level: str
    higher_than_current: bool
    auto_raise: bool
    factors: list[FactorOut]


class ScriptOut(BaseModel):
    scam_type: str
    label: str
    helper_line: str  # what helpers are texted (helpers/scripts.yaml)
    say: list[str]
    check: list[str]


class SharedIdentifier(BaseModel):
    kind: str
    value: str  # masked


class LinkedCaseOut(BaseModel):
    """Another case with the same fraudster contact: never its target's name or phone."""

    case_id: int
    station_code: str | None
    station_name: str | None
    state: str
    scam_type: str
    opened_at: datetime
    readable: bool  # the actor may open it
    shared: list[SharedIdentifier]


class IdentifierOut(BaseModel):
    kind: str
    value: str  # full for the centre, masked otherwise
    source: str


class CaseIntelOut(BaseModel):
    case_id: int
    scam_type: str
    suggestion: SuggestionOut | None
    risk: RiskOut
    script: ScriptOut
    identifiers: list[IdentifierOut]
    linked: list[LinkedCaseOut]


class ScamTypeDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scam_type: ScamType


class SuggestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class SuggestOut(BaseModel):
    scam_type: str | None
    label: str | None
    confidence: float
    drivers: list[DriverOut]
    model: str


class RankingRow(BaseModel):
    identifier_id: int
    kind: str
    value: str  # full for the centre, masked otherwise
    victims: int
    cases: int
    money: Decimal
    first_seen: datetime
    last_seen: datetime
