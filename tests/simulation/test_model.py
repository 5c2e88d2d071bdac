"""The simulator: determinism, conservation, hand-computed toy districts, staffing monotonicity,
and its KPI figures equal to what the KPI API answers over the run's own database."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from quanzu.app import create_app
from quanzu.auth.service import create_personal_token
from quanzu.config import Settings
from quanzu.kit.clock import FakeClock
from quanzu.kit.db import transaction
from quanzu.simulation import service
from quanzu.simulation.scenario import Scenario, scenario_from
from quanzu.simulation.service import interval
from tests.conftest import TEST_PII_KEY

FIXED = 0.0  # sigma 0: every draw is the median


def _fixed(minutes: float) -> dict[str, float]:
    return {"median": minutes, "sigma": FIXED}


def toy(**over: Any) -> Scenario:
    """One station (松陵), one dissuader on every shift, fixed times, every target answers the
    first call and is talked out of it: each case costs the dissuader 4 + 8 minutes."""
    data: dict[str, Any] = {
        "name": "toy",
        "stations": ["SL"],
        "days": 1,
        "arrivals": {
            "fixed_interval_minutes": 120,
            "risk_mix": {"low": 1},
            "scam_mix": {"investment": 1},
            "triage_share": 0,
            "phone_only_share": 0,
            "not_fraud_share": 0,
        },
        "staffing": {"default": [1, 1, 1]},
        "officers": {
            "sign": _fixed(1.5),
            "call": _fixed(4),
            "feedback": _fixed(8),
            "retry_gap": _fixed(5),
            "leader_ack": None,
        },
        "targets": {
            "answer": 1.0,
            "phone_dissuaded": {"low": 1.0, "medium": 1.0, "high": 1.0, "extreme": 1.0},
            "transfer_hours": {"investment": {"median": 1000, "sigma": 0}},
            "second_attempt": 0,
        },
        "social": {"guards": False, "relatives": False},
        "banks": {"enabled": False},
    }
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return scenario_from(data)


def test_toy_district_gives_the_hand_computed_figures() -> None:
    result = service.run(toy(), seed=1, keep=False)
    k, race = result.kpis, result.race
    assert race.warnings == k.warnings == k.cases == 12  # one every two hours for a day
    assert race.outcomes == {"dissuaded": 12}
    assert k.time_to_sign_s.median == 90.0  # 1.5 minutes
    assert k.time_to_first_contact_s.median == 330.0  # signed, then a 4-minute call
    assert k.time_to_first_contact_s.p90 == 330.0
    assert race.reached_share == 1.0
    assert k.escalated == 0 and k.sla_breach_rate["sign"].breached == 0
    # 12 minutes of work per case, 12 cases, one dissuader on duty for 24 hours.
    assert sum(result.utilisation.by_station.values()) == pytest.approx(144 / 1440, abs=1e-4)


def test_a_queue_forms_when_work_outpaces_one_dissuader() -> None:
    """Warnings every 10 minutes, 12 minutes of work each: the k-th waits 2k minutes more."""
    log = service.simulate(toy(arrivals={"fixed_interval_minutes": 10}, days=1), seed=1)
    first = sorted(log.records, key=lambda r: r.index)[:5]
    waits = [(r.first_contact_at or 0) - r.received for r in first]
    assert waits == pytest.approx([(5.5 + 2 * k) * 60 for k in range(5)])


def test_a_breached_sign_deadline_climbs_the_policy_ladder() -> None:
    """Low risk: sign within 30 min, a 30-min wait between rungs (policy/default.yaml). Signed
    after 100 minutes: breached at 30, rungs at 30 (tier 1), 60 (tier 1), 90 (tier 2)."""
    log = service.simulate(toy(officers={"sign": _fixed(100)}), seed=1)
    rec = log.records[0]
    due, met, breached = rec.slas["sign"]
    assert (due, met, breached) == (1800.0, 6000.0, 1800.0)
    assert rec.tier == 2 and rec.escalated_at == 1800.0


def test_same_seed_same_run_other_seed_other_run() -> None:
    sc = scenario_from({"days": 3, "stations": ["SL", "SZ", "ZZ"]})
    a, b, c = service.simulate(sc, 7), service.simulate(sc, 7), service.simulate(sc, 8)
    assert [(r.received, r.outcome, r.closed_at) for r in a.records] == [
        (r.received, r.outcome, r.closed_at) for r in b.records
    ]
    assert service.race_figures(a) == service.race_figures(b)
    assert [r.received for r in a.records] != [r.received for r in c.records]


def test_every_warning_ends_in_exactly_one_outcome() -> None:
    result = service.run(scenario_from({"days": 5}), seed=3, keep=False)
    race, k = result.race, result.kpis
    assert sum(race.outcomes.values()) == race.warnings == k.cases
    assert "open" not in race.outcomes and k.open_cases == 0
    assert k.dissuaded + k.lost + k.not_fraud + k.unreachable == k.cases
    assert race.dissuaded == k.dissuaded
    assert race.money_protected == pytest.approx(float(k.money_protected), abs=0.01)
    assert race.money_lost == pytest.approx(float(k.money_lost), abs=0.01)


def test_doubling_the_staff_never_loses_the_race_more_often() -> None:
    busy = {"days": 4, "stations": ["SL", "JL"], "arrivals": {"warnings_per_year": 60_000}}
    thin = scenario_from({**busy, "staffing": {"default": [1, 1, 1]}})
    double = scenario_from({**busy, "staffing": {"default": [2, 2, 2]}})
    for seed in (1, 2):
        a = service.race_figures(service.simulate(thin, seed))
        b = service.race_figures(service.simulate(double, seed))
        assert b.reached_share >= a.reached_share - 0.005  # paired by seed: same targets


def test_the_kpis_equal_what_the_kpi_api_answers_for_the_runs_database(tmp_path: Path) -> None:
    scenario = scenario_from({"days": 2, "stations": ["SL", "SZ"]})
    result = service.run(scenario, seed=5, database=tmp_path / "run.sqlite3")
    settings = Settings(
        database_url=f"sqlite:///{result.database}",
        data_dir=tmp_path,
        pii_key=SecretStr(TEST_PII_KEY),
        embedded_worker=False,
    )
    app = create_app(settings, FakeClock(result.as_of))
    state = app.state.quanzu
    with transaction(state.factory) as session:
        token = create_personal_token(session, state.rt, "centre")
    query = service.kpi_query(scenario)
    params = {"from": query.from_.isoformat(), "to": query.to.isoformat()}  # type: ignore[union-attr]
    with TestClient(app) as client:
        r = client.get("/api/v1/kpis", params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json() == result.kpis.model_dump(mode="json")
    assert r.json()["dissuaded"] == result.race.dissuaded > 0
    state.engine.dispose()


def test_confidence_interval_uses_the_t_distribution() -> None:
    ci = interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(2) = 4.303
    assert ci.mean == 2.0
    assert ci.low == pytest.approx(2 - 4.303 / 3**0.5, abs=1e-5)
    assert ci.high == pytest.approx(2 + 4.303 / 3**0.5, abs=1e-5)


def test_a_comparison_is_paired_by_seed() -> None:
    a = scenario_from({"days": 2, "stations": ["SL"], "name": "a"})
    b = scenario_from({"days": 2, "stations": ["SL"], "name": "b", "social": {"guards": False}})
    comparison, runs_a, runs_b = service.compare(a, b, [1, 2])
    assert [r.race.warnings for r in runs_a] == [r.race.warnings for r in runs_b]  # the same warnings
    diff = comparison.metrics["dissuaded"]["b_minus_a"]
    assert diff.mean == pytest.approx(
        sum(y.race.dissuaded - x.race.dissuaded for x, y in zip(runs_a, runs_b, strict=True)) / 2
    )
    assert comparison.metrics["dissuaded"]["a"].n == 2


def test_the_staffing_search_finds_a_roster_that_meets_the_target() -> None:
    busy = scenario_from(
        {
            "days": 3,
            "stations": ["SL"],
            "arrivals": {"warnings_per_year": 40_000},
            "staffing": {"default": [1, 1, 1]},
        }
    )
    thin_share, _ = service.reached_share(busy, [1])
    plan = service.staffing_search(busy, min(thin_share + 0.02, 0.99), [1], max_rounds=30)
    assert plan.met and plan.reached_share >= plan.target_share
    assert plan.total_shift_slots > 3  # one more dissuader somewhere was needed
    shares = [float(s.rsplit("→", 1)[1]) for s in plan.steps]
    assert shares == sorted(shares)  # more staff, never a worse share (common random numbers)


def test_the_real_services_replaying_a_run_give_the_same_kpis_as_the_bulk_rows(tmp_path: Path) -> None:
    """`--full`: intake, routing, steps, closes and the worker's SLA and escalation timers on a
    FakeClock write a database whose KPIs equal the fast mode's bulk rows, figure for figure,
    and whose cases match row for row."""
    scenario = scenario_from(
        {"days": 1, "stations": ["SL", "SZ"], "arrivals": {"warnings_per_year": 15_000, "triage_share": 0.1}}
    )
    fast = service.run(scenario, seed=3, database=tmp_path / "fast.sqlite3")
    full = service.run(scenario, seed=3, full=True, database=tmp_path / "full.sqlite3")
    assert fast.kpis.escalated > 0 and fast.kpis.sla_breach_rate["first_contact"].breached > 0
    assert full.kpis.model_dump(mode="json") == fast.kpis.model_dump(mode="json")
    assert _cases(fast.database) == _cases(full.database)


def _cases(path: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(
            "SELECT c.routing_method, u.code, c.state, c.tier, c.risk_level, c.outcome,"
            " c.amount_protected, c.amount_lost, c.opened_at, c.signed_at, c.first_contact_at,"
            " c.first_meeting_outcome, c.closed_at"
            " FROM cases c JOIN warnings w ON w.case_id = c.id JOIN org_units u ON u.id = c.station_id"
            " ORDER BY w.external_id"
        ).fetchall()
