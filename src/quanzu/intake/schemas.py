"""The intake contract of DESIGN.md, validated at the edge: every problem names its field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from quanzu.codes import ContactKind, RiskLevel, ScamType, Source
from quanzu.kit.identifiers import checked_id_number, checked_phone

Text = Annotated[str, StringConstraints(strip_whitespace=True)]


class ScamContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ContactKind
    value: Annotated[Text, StringConstraints(min_length=1, max_length=200)]


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, StringConstraints(max_length=50)] = ""
    phone: Annotated[Text, StringConstraints(max_length=32)] | None = None
    id_number: Annotated[Text, StringConstraints(max_length=32)] | None = None
    address: Annotated[Text, StringConstraints(max_length=200)] | None = None
    employer: Annotated[Text, StringConstraints(max_length=200)] | None = None
    age: int | None = Field(default=None, ge=0, le=130)
    gender: Annotated[Text, StringConstraints(pattern=r"^(male|female|unknown)$")] | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return checked_phone(value) if value else None

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str | None) -> str | None:
        return checked_id_number(value) if value else None

    @model_validator(mode="after")
    def _reachable(self) -> TargetIn:
        if not self.phone and not self.id_number:
            raise ValueError("至少提供手机号（phone）或身份证号（id_number）之一")
        return self


class WarningIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: Annotated[Text, StringConstraints(min_length=1, max_length=100)]
    source: Source
    issued_at: datetime
    target: TargetIn
    scam_type: ScamType = ScamType.OTHER
    # Absent (a hotline call, a walk-in, a bank's free text): Quanzu scores it from the warning's
    # own factors (intel.risk) and says so on the case timeline.
    risk_level: RiskLevel | None = None
    amount_at_risk: Decimal | None = Field(default=None, ge=0, le=Decimal("1e12"), decimal_places=2)
    description: Annotated[Text, StringConstraints(max_length=4000)] = ""
    scam_contacts: list[ScamContactIn] = Field(default_factory=list, max_length=50)

    @field_validator("issued_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("时间必须带时区，例如 2026-11-28T14:03:00+08:00")
        return value.astimezone(UTC)

    @property
    def level(self) -> RiskLevel:
        """The risk level once known: intake scores a warning that came without one first."""
        if self.risk_level is None:
            raise ValueError("the warning's risk level is not scored yet (intel.with_risk_level)")
        return self.risk_level

    def canonical(self) -> dict[str, Any]:
        """The content that idempotency compares: normalised values, so '+08:00' and 'Z' forms
        of the same instant, or a phone with and without +86, are the same warning."""
        return self.model_dump(mode="json")


class WarningBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warnings: list[dict[str, Any]] = Field(min_length=1)


class RoutingOut(BaseModel):
    method: str
    detail: str


class WarningAccepted(BaseModel):
    warning_id: int
    case_id: int
    station_code: str | None
    routing: RoutingOut
    merged: bool


class BatchItemOut(BaseModel):
    index: int
    status: int
    result: WarningAccepted | None = None
    errors: list[dict[str, str]] | None = None


class BatchOut(BaseModel):
    results: list[BatchItemOut]
