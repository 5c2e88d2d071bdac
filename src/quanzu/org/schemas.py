"""The organisation file (YAML) and the user/roster CSV rows, validated field by field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from quanzu.codes import DutyPosition, Role
from quanzu.dispatch.channels import ChannelKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelIn(_Strict):
    """An outbound channel of a unit: a signed webhook, a WeCom/DingTalk group robot, or email."""

    kind: ChannelKind
    target: str = Field(min_length=3, max_length=500)
    secret: str | None = Field(default=None, max_length=200)
    options: dict[str, Any] = Field(default_factory=dict)
    active: bool = True


class AreaIn(_Strict):
    name: str = Field(min_length=2, max_length=100)
    level: str = Field(pattern=r"^(town|street|community|village|zone)$")
    aliases: list[str] = Field(default_factory=list)
    polygon: list[list[float]] | None = None


class TeamIn(_Strict):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=100)


class StationIn(_Strict):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = None
    channels: list[ChannelIn] = Field(default_factory=list)
    areas: list[AreaIn] = Field(default_factory=list)
    teams: list[TeamIn] = Field(default_factory=list)


class BranchIn(_Strict):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = None
    channels: list[ChannelIn] = Field(default_factory=list)
    stations: list[StationIn] = Field(default_factory=list)


class CentreIn(_Strict):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = None
    channels: list[ChannelIn] = Field(default_factory=list)
    province: str
    city: str
    district: str
    phone_fallback_station: str | None = None
    phone_home_areas: list[str] = Field(default_factory=list)


class UserIn(_Strict):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    display_name: str = Field(min_length=1, max_length=64)
    role: Role
    unit: str | None = None  # org unit code
    phone: str | None = None
    email: str | None = None
    password: str | None = None


class ShiftIn(_Strict):
    user: str
    station: str
    position: DutyPosition
    starts_at: datetime
    ends_at: datetime


class OrgFile(_Strict):
    centre: CentreIn
    branches: list[BranchIn] = Field(default_factory=list)
    users: list[UserIn] = Field(default_factory=list)
    roster: list[ShiftIn] = Field(default_factory=list)


class TeamMember(BaseModel):
    user_id: int
    username: str
    display_name: str
    role: str
    unit: str
    phone: str | None


class ShiftView(BaseModel):
    id: int
    username: str
    display_name: str
    position: str
    starts_at: datetime
    ends_at: datetime
    on_duty_now: bool


class StationView(BaseModel):
    code: str
    name: str
    phone: str | None
    team: list[TeamMember]
    roster: list[ShiftView]
    can_edit_roster: bool


class ShiftAdd(_Strict):
    user: str = Field(min_length=1, max_length=64)
    position: DutyPosition
    starts_at: datetime
    ends_at: datetime
