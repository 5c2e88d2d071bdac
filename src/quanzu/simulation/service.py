"""Running the district simulator: one run (model → throwaway database → the real KPI code),
a paired comparison over seeds, and the staffing search."""

from __future__ import annotations

import math
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from quanzu.kit.clock import FakeClock
from quanzu.kit.crypto import PiiCipher, generate_master_key
from quanzu.kit.db import make_engine, make_sessionmaker, transaction
from quanzu.kit.migrate import upgrade
from quanzu.kit.runtime import Runtime
from quanzu.policy.schemas import Policy
from quanzu.policy.service import load_policy
from quanzu.reports import service as reports
from quanzu.reports.schemas import KpiQuery, KpiReport
from quanzu.simulation import replay, repository
from quanzu.simulation.district import build_district
from quanzu.simulation.model import DAY, Model, RunLog
from quanzu.simulation.scenario import SHIFTS, Scenario, Staffing
from quanzu.simulation.schemas import Comparison, Interval, RaceFigures, RunResult, StaffingPlan, Utilisation

__all__ = ["Comparison", "RunResult", "StaffingPlan", "compare", "run", "simulate", "staffing_search"]
from quanzu.followups.rules import LOCAL_TZ

Progress = Callable[[float], None]  # fraction of the simulated period done


def start_of(scenario: Scenario) -> datetime:
    return datetime.combine(date.fromisoformat(scenario.start), dtime(0), tzinfo=LOCAL_TZ)


def policy_of(scenario: Scenario) -> Policy:
    return load_policy(Path(scenario.policy) if scenario.policy else None)


def simulate(scenario: Scenario, seed: int, progress: Progress | None = None) -> RunLog:
    """The model alone (no database): what the staffing search and comparisons iterate on."""
    district = build_district(scenario.district, scenario.stations)
    model = Model(scenario, policy_of(scenario), district, start_of(scenario), seed)
    if progress is not None:
        horizon = scenario.days * DAY
        model.progress = lambda now: progress(min(1.0, now / horizon))
    return model.run()


def run(
    scenario: Scenario,
    seed: int,
    *,
    database: Path | None = None,
    progress: Progress | None = None,
    full: bool = False,
    keep: bool = True,
) -> RunResult:
    """The model, then its database (bulk rows, or with `full` the real services replaying every
    move), then the real KPI code over that database. `keep=False` removes a temporary database
    afterwards (comparisons run many: ~35 MB a district year)."""
    began = time.perf_counter()
    log = simulate(scenario, seed, None if full else progress)
    path = database or Path(tempfile.mkdtemp(prefix="quanzu-sim-")) / "run.sqlite3"
    path.unlink(missing_ok=True)
    rt = runtime_for(scenario, log)
    url = f"sqlite:///{path}"
    if full:
        kpis = replay_and_measure(scenario, log, url, rt, progress)
    else:
        kpis = write_and_measure(scenario, log, url, rt)
    if database is None and not keep:
        shutil.rmtree(path.parent, ignore_errors=True)
    return RunResult(
        scenario=scenario.name,
        seed=seed,
        days=scenario.days,
        events=log.events,
        seconds=round(time.perf_counter() - began, 3),
        database=str(path),
        as_of=rt.clock.now(),
        race=race_figures(log),
        utilisation=utilisation(log),
        kpis=kpis,
    )


def runtime_for(scenario: Scenario, log: RunLog) -> Runtime:
    start = start_of(scenario)
    last = max((r.closed_at or r.received for r in log.records), default=0.0)
    clock = FakeClock(max(start + timedelta(days=scenario.days), start + timedelta(seconds=last)))
    return Runtime(clock=clock, cipher=PiiCipher(generate_master_key()), policy=policy_of(scenario))


def write_and_measure(scenario: Scenario, log: RunLog, url: str, rt: Runtime) -> KpiReport:
    """Writes the run into a fresh database and asks the real KPI code about it."""
    upgrade(url)
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        start = start_of(scenario)
        district = build_district(scenario.district, scenario.stations)
        with transaction(factory) as session:
            repository.load_org(session, rt, district, start)
            repository.write_cases(session, rt, log.records, start)
        with transaction(factory) as session:
            return reports.kpis(session, rt, repository.centre_actor(session), kpi_query(scenario))
    finally:
        engine.dispose()


def replay_and_measure(
    scenario: Scenario, log: RunLog, url: str, rt: Runtime, progress: Progress | None = None
) -> KpiReport:
    """`--full`: every simulated move through the real services and timer handlers."""
    upgrade(url)
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        start = start_of(scenario)
        as_of = rt.clock.now()
        clock = FakeClock(start)
        rt.clock = clock
        district = build_district(scenario.district, scenario.stations)
        with transaction(factory) as session:
            replay.load_org_with_roster(session, rt, district, start, scenario.days)
        replayer = replay.Replayer(factory, rt, clock, start)
        replayer.run(replay.actions(log.records), progress)
        replayer.advance_to(as_of)
        with transaction(factory) as session:
            return reports.kpis(session, rt, repository.centre_actor(session), kpi_query(scenario))
    finally:
        engine.dispose()


def kpi_query(scenario: Scenario) -> KpiQuery:
    start = start_of(scenario)
    return KpiQuery.model_validate({"from": start, "to": start + timedelta(days=scenario.days)})


# --- figures ------------------------------------------------------------------------------------------


def race_figures(log: RunLog) -> RaceFigures:
    recs = log.records
    reached = sum(r.reached_before_transfer for r in recs)
    outcomes = Counter(r.outcome or "open" for r in recs)
    return RaceFigures(
        warnings=len(recs),
        reached_before_transfer=reached,
        reached_share=round(reached / len(recs), 4) if recs else 0.0,
        dissuaded=outcomes.get("dissuaded", 0),
        money_protected=round(sum(r.protected for r in recs), 2),
        money_lost=round(sum(r.amount_lost or 0.0 for r in recs), 2),
        first_contact_by=dict(Counter(r.first_contact_by for r in recs if r.first_contact_by)),
        bank_stops=sum(r.bank_stopped and r.transfer_at < (r.dissuaded_at or math.inf) for r in recs),
        callbacks=sum(r.callbacks for r in recs),
        second_attempts=sum(r.second_attempt is not None for r in recs),
        second_attempts_caught=sum(r.second_attempt == "caught" for r in recs),
        money_lost_second=round(sum(r.second_amount for r in recs if r.second_attempt == "lost"), 2),
        outcomes=dict(sorted(outcomes.items())),
    )


def utilisation(log: RunLog) -> Utilisation:
    stations = sorted({s for s, _ in log.on_duty})
    by_station_hour = {
        s: [_share(log.busy.get((s, h), 0.0), log.on_duty.get((s, h), 0.0)) for h in range(24)]
        for s in stations
    }
    by_station = {
        s: _share(
            sum(log.busy.get((s, h), 0.0) for h in range(24)),
            sum(log.on_duty.get((s, h), 0.0) for h in range(24)),
        )
        for s in stations
    }
    by_hour = [
        _share(
            sum(log.busy.get((s, h), 0.0) for s in stations),
            sum(log.on_duty.get((s, h), 0.0) for s in stations),
        )
        for h in range(24)
    ]
    return Utilisation(
        stations=stations, by_station=by_station, by_station_hour=by_station_hour, by_hour=by_hour
    )


def _share(busy: float, available: float) -> float:
    return round(busy / available, 4) if available else 0.0


# --- comparison -------------------------------------------------------------------------------------

# 97.5 % quantiles of Student's t for 1..30 degrees of freedom (two-sided 95 % intervals).
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def interval(values: list[float]) -> Interval:
    """Mean and 95 % confidence interval (t distribution)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Interval(mean=mean, low=mean, high=mean, n=len(values))
    t = _T975[min(len(values) - 1, len(_T975)) - 1] if len(values) - 1 <= len(_T975) else 1.96
    half = t * statistics.stdev(values) / math.sqrt(len(values))
    return Interval(mean=round(mean, 6), low=round(mean - half, 6), high=round(mean + half, 6), n=len(values))


COMPARED: dict[str, Callable[[RunResult], float]] = {
    "reached_share": lambda r: r.race.reached_share,
    "dissuaded": lambda r: r.race.dissuaded,
    "money_protected": lambda r: r.race.money_protected,
    "money_lost": lambda r: r.race.money_lost,
    "median_time_to_first_contact_s": lambda r: r.kpis.time_to_first_contact_s.median or 0.0,
    "first_meeting_success_rate": lambda r: r.kpis.first_meeting_success_rate or 0.0,
    "escalated": lambda r: r.kpis.escalated,
    "utilisation": lambda r: statistics.fmean(r.utilisation.by_station.values() or [0.0]),
}


def compare(
    a: Scenario, b: Scenario, seeds: list[int], progress: Callable[[str, int], None] | None = None
) -> tuple[Comparison, list[RunResult], list[RunResult]]:
    runs_a: list[RunResult] = []
    runs_b: list[RunResult] = []
    for seed in seeds:
        for scenario, runs, label in ((a, runs_a, "a"), (b, runs_b, "b")):
            runs.append(run(scenario, seed, keep=False))
            if progress is not None:
                progress(label, seed)
    metrics = {}
    for name, pick in COMPARED.items():
        va, vb = [pick(r) for r in runs_a], [pick(r) for r in runs_b]
        metrics[name] = {
            "a": interval(va),
            "b": interval(vb),
            "b_minus_a": interval([y - x for x, y in zip(va, vb, strict=True)]),
        }
    return Comparison(a=a.name, b=b.name, seeds=seeds, metrics=metrics), runs_a, runs_b


# --- staffing search ----------------------------------------------------------------------------------


def reached_share(scenario: Scenario, seeds: list[int]) -> tuple[float, list[RunLog]]:
    """Mean share reached before the first transfer over the seeds, and the seeds' runs."""
    logs = [simulate(scenario, s) for s in seeds]
    shares = [sum(r.reached_before_transfer for r in lg.records) / max(len(lg.records), 1) for lg in logs]
    return statistics.fmean(shares), logs


def with_staffing(scenario: Scenario, roster: dict[str, tuple[int, int, int]]) -> Scenario:
    return scenario.model_copy(
        update={"staffing": Staffing(default=scenario.staffing.default, stations=roster)}
    )


def staffing_search(
    scenario: Scenario,
    target: float,
    seeds: list[int],
    *,
    max_per_shift: int = 8,
    max_rounds: int = 200,
    progress: Callable[[str], None] | None = None,
) -> StaffingPlan:
    """Greedy marginal search with common random numbers: start from one dissuader per shift
    everywhere and, while the target share is not met, add one dissuader to the (station, shift)
    whose waiting time was longest in the last run — the slot where one more person shortens the
    race most. Adding staff never lengthens a queue, so the share only rises and the search stops
    at the first roster that meets the target (smallest in this greedy sense)."""
    district = build_district(scenario.district, scenario.stations)
    codes = [s.code for s in district.stations]
    roster = {c: [1, 1, 1] for c in codes}
    baseline = sum(sum(scenario.staffing.on_duty(c, i) for i in range(3)) for c in codes)
    steps: list[str] = []
    share = 0.0
    for _ in range(max_rounds):
        trial = with_staffing(scenario, {c: (v[0], v[1], v[2]) for c, v in roster.items()})
        share, logs = reached_share(trial, seeds)
        steps.append(f"{sum(map(sum, roster.values()))} slots → {share:.4f}")
        if progress is not None:
            progress(steps[-1])
        if share >= target:
            break
        slot = _longest_wait(logs, roster, max_per_shift, start_of(scenario))
        if slot is None:
            break
        roster[slot[0]][slot[1]] += 1
    return StaffingPlan(
        target_share=target,
        met=share >= target,
        reached_share=round(share, 4),
        roster=roster,
        total_shift_slots=sum(map(sum, roster.values())),
        baseline_shift_slots=baseline,
        steps=steps,
    )


def _longest_wait(
    logs: list[RunLog], roster: dict[str, list[int]], cap: int, start: datetime
) -> tuple[str, int] | None:
    """The (station, shift) where warnings waited longest for a free dissuader, counting only
    targets whose transfer came before first contact (the race lost), summed over the seeds."""
    waits: dict[tuple[str, int], float] = {}
    for r in (r for log in logs for r in log.records):
        if r.station is None or r.signed_at is None or r.reached_before_transfer:
            continue
        first = next((s.started for s in r.steps if s.actor == "dissuader"), None)
        if first is None:
            continue
        hour = (start + timedelta(seconds=r.signed_at)).astimezone(LOCAL_TZ).hour
        shift = next(i for i, (a, b) in enumerate(SHIFTS) if a <= hour < b)
        waits[(r.station, shift)] = waits.get((r.station, shift), 0.0) + (first - r.signed_at)
    ranked = sorted(((w, k) for k, w in waits.items() if roster[k[0]][k[1]] < cap), reverse=True)
    if ranked and ranked[0][0] > 0:
        return ranked[0][1]
    # No waiting anywhere: more staff cannot help; the remaining losses are faster than any team.
    return None
