"""What a run, a comparison and a staffing search answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from quanzu.reports.schemas import KpiReport


class RaceFigures(BaseModel):
    """The warning race (预警竞速赛) as the simulator measures it."""

    warnings: int
    reached_before_transfer: int
    reached_share: float
    dissuaded: int
    money_protected: float
    money_lost: float
    first_contact_by: dict[str, int]  # officer | guard | relative
    bank_stops: int
    callbacks: int
    second_attempts: int
    second_attempts_caught: int
    money_lost_second: float
    outcomes: dict[str, int]  # every warning ends in exactly one outcome


class Utilisation(BaseModel):
    """Share of on-duty dissuader time spent working cases, per station and local hour."""

    stations: list[str]
    by_station: dict[str, float]
    by_station_hour: dict[str, list[float]]  # station → 24 values (local hours)
    by_hour: list[float]


class RunResult(BaseModel):
    scenario: str
    seed: int
    days: int
    events: int
    seconds: float
    database: str
    as_of: datetime  # the simulated "now" the KPIs were asked at (the last close)
    race: RaceFigures
    utilisation: Utilisation
    kpis: KpiReport


class Interval(BaseModel):
    mean: float
    low: float
    high: float
    n: int


class Comparison(BaseModel):
    """Paired by seed (common random numbers): the difference b − a is what matters."""

    a: str
    b: str
    seeds: list[int]
    metrics: dict[str, dict[str, Interval]]  # metric → {"a", "b", "b_minus_a"}


class StaffingPlan(BaseModel):
    target_share: float
    met: bool
    reached_share: float
    roster: dict[str, list[int]]  # station → dissuaders per shift (00–08, 08–16, 16–24)
    total_shift_slots: int
    baseline_shift_slots: int
    steps: list[str]
