"""A simulation scenario: the district, its staffing, its social forces and banks, and how
targets and fraudsters behave. Loaded from YAML over the calibrated defaults (`default.yaml`),
so a scenario file names only what it changes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from quanzu.codes import RiskLevel, ScamType

SHIFTS = ((0, 8), (8, 16), (16, 24))  # the demo roster's three shifts, local hours


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogNormal(_Strict):
    """A positive duration: the median and the spread (sigma of the log). sigma 0 = fixed."""

    median: float = Field(gt=0)
    sigma: float = Field(default=0.5, ge=0)


class Arrivals(_Strict):
    warnings_per_year: float = Field(gt=0)
    hourly: tuple[float, ...] = Field(min_length=24, max_length=24)  # local hour weights
    weekly: tuple[float, ...] = Field(min_length=7, max_length=7)  # Monday first
    scam_mix: dict[ScamType, float]
    risk_mix: dict[RiskLevel, float]
    triage_share: float = Field(ge=0, le=1)  # address and phone from elsewhere: centre triage
    phone_only_share: float = Field(ge=0, le=1)  # no usable address: routed by phone home area
    not_fraud_share: float = Field(ge=0, le=1)
    amount_yuan: dict[RiskLevel, LogNormal]
    fixed_interval_minutes: float | None = None  # toy scenarios: one warning every N minutes


class Staffing(_Strict):
    """Dissuaders on duty per shift (00–08, 08–16, 16–24 local), per station; `default` for the
    stations not named. The demo roster has two per shift."""

    default: tuple[int, int, int] = (2, 2, 2)
    stations: dict[str, tuple[int, int, int]] = Field(default_factory=dict)

    def on_duty(self, station: str, shift: int) -> int:
        return self.stations.get(station, self.default)[shift]


class Officers(_Strict):
    """Minutes for each step of the prescribed steps; travel from the distance and the speed."""

    sign: LogNormal  # the duty leader signs (not a dissuader's time)
    call: LogNormal  # one call attempt, answered or not
    call_attempts: int = Field(ge=1)
    retry_gap: LogNormal  # between unanswered attempts
    analysis: LogNormal
    distance_km: LogNormal  # station to the target's address
    speed_kmh: float = Field(gt=0)
    search: LogNormal  # finding the target on site
    meet: LogNormal  # the face-to-face talk
    feedback: LogNormal  # writing the close with its reverse-check list
    leader_ack: LogNormal | None  # the duty leader acknowledges an escalation; None: never
    triage: LogNormal = LogNormal(median=10, sigma=0.5)  # the centre routes a triage warning


class Targets(_Strict):
    """How targets behave. Probabilities per call attempt / meeting; time until the first
    transfer (hours, median per scam type), scaled by risk."""

    answer: float = Field(ge=0, le=1)
    phone_dissuaded: dict[RiskLevel, float]
    found_on_site: float = Field(ge=0, le=1)
    meeting_dissuaded: float = Field(ge=0, le=1)
    transfer_hours: dict[ScamType, LogNormal]
    transfer_risk_factor: dict[RiskLevel, float]
    second_attempt: float = Field(ge=0, le=1)  # a dissuaded target tries again within 4 weeks
    callback_catches: float = Field(ge=0, le=1)  # a callback before it notices and stops it


class SocialForces(_Strict):
    guards: bool = True
    guard_coverage: float = Field(ge=0, le=1)  # share of targets with a guard at work or home
    guard_reach: float = Field(ge=0, le=1)
    guard_minutes: LogNormal
    guard_dissuades: float = Field(ge=0, le=1)
    relatives: bool = True
    relative_reach: float = Field(ge=0, le=1)
    relative_minutes: LogNormal
    relative_dissuades: float = Field(ge=0, le=1)


class BankLinkage(_Strict):
    enabled: bool = True
    coverage: float = Field(ge=0, le=1)  # share of transfer attempts through linked branches/channels
    stops: float = Field(ge=0, le=1)  # a watched customer's attempt at a linked branch is stopped


class Scenario(_Strict):
    name: str
    description: str = ""
    district: str = "demo"  # the demo district (src/quanzu/demo/district.yaml) or an org YAML path
    stations: tuple[str, ...] = ()  # only these stations receive warnings; () = all
    days: int = Field(ge=1, le=366)
    start: str = "2026-01-01"  # a local date
    policy: str | None = None  # a policy YAML; None: the shipped default
    arrivals: Arrivals
    staffing: Staffing = Staffing()
    officers: Officers
    targets: Targets
    social: SocialForces
    banks: BankLinkage
    assumptions: dict[str, str] = Field(default_factory=dict)  # documented, shown in the report

    @model_validator(mode="after")
    def _covers(self) -> Scenario:
        for level in RiskLevel:
            for table in (
                self.arrivals.amount_yuan,
                self.targets.phone_dissuaded,
                self.targets.transfer_risk_factor,
            ):
                if level not in table:
                    raise ValueError(f"the scenario must cover risk level {level}")
        missing = set(self.arrivals.scam_mix) - set(self.targets.transfer_hours)
        if missing:
            raise ValueError(f"targets.transfer_hours lacks {sorted(missing)}")
        return self


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _REPLACED:
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# Mixes are replaced whole: a scenario with only two scam types means only those two.
_REPLACED = frozenset({"scam_mix", "risk_mix", "stations"})


def default_data() -> dict[str, Any]:
    text = (resources.files("quanzu.simulation") / "default.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def scenario_from(data: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(_merge(default_data(), data))


def load_scenario(path: Path | None) -> Scenario:
    if path is None:
        return scenario_from({})
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a scenario is a YAML mapping")
    return scenario_from(data)
