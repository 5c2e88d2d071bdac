"""Simulator benchmark: a Wujiang-sized district year (the calibrated default scenario) end to
end — SimPy model, writing the run's throwaway SQLite database, the real KPI code over it — and,
as the anchor in the same run, a bare SimPy M/M/1 queue processing the same number of events.

    .venv/bin/python bench/simulate.py [--seed 1] [--days 365]

Target: the district year in under 60 s on this machine. The ratio (anchor events/s ÷ model
events/s) says how much of the time is the model's own work (routing, policy rules, bookkeeping,
the database and the KPIs) beyond SimPy's event loop.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Generator
from typing import Any

import simpy
from benchkit import machine

from quanzu.simulation import service
from quanzu.simulation.scenario import scenario_from

TARGET_S = 60.0


def mm1(events: int, seed: int) -> tuple[int, float]:
    """A bare M/M/1 queue (load 0.8) run until it has processed `events` SimPy events."""
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    rng = random.Random(seed)

    def customer() -> Generator[simpy.Event, Any, None]:
        with server.request() as req:
            yield req
            yield env.timeout(rng.expovariate(1.0))

    def source() -> Generator[simpy.Event, Any, None]:
        while True:
            yield env.timeout(rng.expovariate(0.8))
            env.process(customer())

    env.process(source())
    began = time.perf_counter()
    for _ in range(events):
        env.step()
    return events, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    scenario = scenario_from({"days": args.days})
    print(machine())

    began = time.perf_counter()
    log = service.simulate(scenario, args.seed)
    model_s = time.perf_counter() - began
    began = time.perf_counter()
    result = service.run(scenario, args.seed)
    total_s = time.perf_counter() - began

    events, anchor_s = mm1(log.events, args.seed)
    k = result.kpis
    print(
        f"warnings {result.race.warnings:,}, dissuaded {k.dissuaded:,}, protected {k.money_protected:,} yuan"
    )
    print(f"events {log.events:,}")
    print("| phase | wall s | events/s |")
    print(f"| model only (SimPy + routing + policy rules) | {model_s:.1f} | {log.events / model_s:,.0f} |")
    print(f"| full run (model + database + KPI code) | {total_s:.1f} | {log.events / total_s:,.0f} |")
    print(f"| anchor: bare SimPy M/M/1, same event count | {anchor_s:.2f} | {events / anchor_s:,.0f} |")
    print(f"ratio model/anchor wall time: {model_s / anchor_s:.1f}x; full/anchor: {total_s / anchor_s:.1f}x")
    print(f"target < {TARGET_S:.0f} s for the district year: {'met' if total_s < TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
