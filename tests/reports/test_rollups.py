"""Daily KPI rollups (PostgreSQL): a report that reads rolled-up days says exactly what the raw
tables say — the same hand-built district as test_kpis, asked before and after the rollups are
built, after changes to rolled-up days, and after time alone changes a day's figures. Durations
are merged from 5 % buckets and agree within 2.5 %."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from quanzu.reports.repository import day_runs
from quanzu.reports.tasks import refresh_rollups
from tests.conftest import Env
from tests.factories import bearer
from tests.reports.test_kpis import AT, DAYS, DUE_DAYS, build_callbacks, build_day, close, kpis

LATER = datetime(2026, 12, 10, 4, 0, tzinfo=UTC)  # 12:00 local 10 Dec: 28 Nov - 8 Dec may be rolled up
QUERIES: list[dict[str, str]] = [
    DAYS,
    DUE_DAYS,
    {"from": "2026-11-28", "to": "2026-12-09"},
    {"from": "2026-11-28", "to": "2026-12-09", "station": "SL"},
    {"from": "2026-11-28", "to": "2026-12-09", "station": "SZ"},
    {"from": "2026-11-28", "to": "2026-12-09", "scam_type": "loan"},
    {"from": "2026-11-28", "to": "2026-12-09", "scam_type": "investment"},
    # Partial first day (from 15:00 local 28 Nov) and a datetime end: raw spans around rolled days.
    {"from": "2026-11-28T15:00:00+08:00", "to": "2026-12-10T04:00:00Z"},
]
DURATIONS = ("time_to_sign_s", "time_to_first_contact_s")
RANK_DURATIONS = ("median_time_to_sign_s", "median_time_to_first_contact_s")


@pytest.fixture
def _postgres_only(env: Env) -> None:
    if not env.is_postgres:
        pytest.skip("rollups are PostgreSQL only")


def test_sqlite_reads_the_raw_tables_only(env: Env) -> None:
    if env.is_postgres:
        pytest.skip("SQLite only")
    day = build_day(env)
    env.clock.set(LATER)
    assert refresh_rollups(env.factory, env.rt, limit=400) == 0
    assert kpis(env, day.district.tokens["centre"], **DAYS)["cases"] == 6


def answers(env: Env, tokens: dict[str, str]) -> list[Any]:
    out: list[Any] = []
    for reader in ("centre", "sl-d1", "b1-squad"):
        out.extend(kpis(env, tokens[reader], **q) for q in QUERIES)
    return out


def rolled_days(env: Env) -> list[str]:
    with env.reader() as session:
        rows = session.execute(
            text("SELECT day FROM kpi_rollup_days WHERE computed_version = version ORDER BY day")
        ).all()
    return [r[0].isoformat() for r in rows]


def close_enough(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 0.025 * abs(b) + 1e-9


def assert_same(rolled: list[Any], raw: list[Any]) -> None:
    """Every figure equal; durations within a bucket's half width (2.5 %), `n` exact."""
    assert len(rolled) == len(raw)
    for r, w in zip(rolled, raw, strict=True):
        for key in DURATIONS:
            assert r[key]["n"] == w[key]["n"], key
            assert close_enough(r[key]["median"], w[key]["median"]), (key, r[key], w[key])
            assert close_enough(r[key]["p90"], w[key]["p90"]), (key, r[key], w[key])
        assert [s["code"] for s in r["station_ranking"]] == [s["code"] for s in w["station_ranking"]]
        for rs, ws in zip(r["station_ranking"], w["station_ranking"], strict=True):
            for key in RANK_DURATIONS:
                assert close_enough(rs[key], ws[key]), (key, rs, ws)
        strip = {*DURATIONS, "station_ranking"}
        assert {k: v for k, v in r.items() if k not in strip} == {
            k: v for k, v in w.items() if k not in strip
        }
        assert [{k: v for k, v in s.items() if k not in RANK_DURATIONS} for s in r["station_ranking"]] == [
            {k: v for k, v in s.items() if k not in RANK_DURATIONS} for s in w["station_ranking"]
        ]


@pytest.mark.usefixtures("_postgres_only")
def test_rolled_up_days_say_what_the_raw_tables_say(env: Env) -> None:
    day = build_callbacks(env)
    tokens = day.district.tokens
    env.clock.set(LATER)
    raw = answers(env, tokens)
    # 28 Nov - 8 Dec: today (10 Dec) and yesterday stay raw; the year before has no data but is
    # rolled up all the same (empty days).
    assert refresh_rollups(env.factory, env.rt, limit=400) == 366 - 1
    assert rolled_days(env)[-11:] == [f"2026-11-{d}" for d in (28, 29, 30)] + [
        f"2026-12-0{d}" for d in range(1, 9)
    ]
    assert refresh_rollups(env.factory, env.rt, limit=400) == 0  # nothing stale
    assert_same(answers(env, tokens), raw)
    # The rollups really were read: the hand-checked figures of test_kpis, from them.
    k = kpis(env, tokens["centre"], **DUE_DAYS)
    assert k["follow_ups"] == {"completed": 3, "counted": 5, "rate": 0.6}  # B7, A7 past deadline
    whole = kpis(env, tokens["centre"], **DAYS)
    assert (whole["cases"], whole["warnings"], whole["money_protected"]) == (6, 7, "71000.75")
    assert whole["time_to_sign_s"]["n"] == 5 and whole["repeat_warning_rate_30d"] == round(1 / 6, 4)


@pytest.mark.usefixtures("_postgres_only")
def test_a_change_to_a_rolled_up_day_is_read_raw_until_rebuilt(env: Env) -> None:
    day = build_callbacks(env)
    tokens = day.district.tokens
    env.clock.set(LATER)
    refresh_rollups(env.factory, env.rt, limit=400)
    # F (opened 29 Nov local) is closed now, and B's day-7 callback (due 5 Dec) is recorded late.
    close(env, tokens["sz-d1"], day.cases["F"], {"outcome": "not_fraud"})
    r = env.client.get(f"/api/v1/cases/{day.cases['B']}/followups", headers=bearer(tokens["sl-d1"]))
    b7 = next(cb["callback_id"] for cb in r.json()["plan"]["callbacks"] if cb["day"] == 7)
    r = env.client.post(
        f"/api/v1/cases/{day.cases['B']}/followups/{b7}",
        json={"reached": True},
        headers=bearer(tokens["sl-d1"]),
    )
    assert r.status_code == 200, r.text
    stale = {"2026-11-29", "2026-12-05"}
    assert stale.isdisjoint(rolled_days(env))  # the triggers bumped exactly these days' versions
    assert {"2026-11-28", "2026-12-01"} <= set(rolled_days(env))
    mixed = answers(env, tokens)
    k = kpis(env, tokens["centre"], **DAYS)
    assert (k["open_cases"], k["not_fraud"]) == (1, 1)  # F closed: read raw for 29 Nov
    assert kpis(env, tokens["centre"], **DUE_DAYS)["follow_ups"] == {
        "completed": 3,
        "counted": 5,
        "rate": 0.6,
    }
    assert refresh_rollups(env.factory, env.rt, limit=400) == 2
    assert stale <= set(rolled_days(env))
    assert_same(answers(env, tokens), mixed)


@pytest.mark.usefixtures("_postgres_only")
def test_time_alone_expires_a_rolled_up_day(env: Env) -> None:
    day = build_day(env)
    tokens = day.district.tokens
    # 12:00 local 1 Dec: 29 Nov may be rolled up. Feedback clocks (high 48 h, low 72 h): A-D met
    # theirs; F's (high, opened 17:30 UTC 28 Nov) fell due 17:30 UTC 30 Nov unmet: breached;
    # E's (low, opened 16:30 UTC 28 Nov, still open) runs until 16:30 UTC 1 Dec.
    env.clock.set(datetime(2026, 12, 1, 4, 0, tzinfo=UTC))
    refresh_rollups(env.factory, env.rt, limit=400)
    assert "2026-11-29" in rolled_days(env)
    with env.reader() as session:
        valid_until = session.execute(
            text("SELECT valid_until FROM kpi_rollup_days WHERE day = '2026-11-29'")
        ).scalar_one()
    assert valid_until == AT["E"] + timedelta(hours=72)
    feedback = kpis(env, tokens["centre"], **DAYS)["sla_breach_rate"]["feedback"]
    assert feedback == {"breached": 1, "counted": 5, "rate": 0.2}
    # At 16:30 UTC E's clock falls due unmet: the rollup of 29 Nov is no longer read.
    env.clock.set(valid_until)
    before = kpis(env, tokens["centre"], **DAYS)
    assert before["sla_breach_rate"]["feedback"] == {"breached": 2, "counted": 6, "rate": 0.3333}
    # 00:30 local 2 Dec: 29 Nov is rebuilt, and 30 Nov is now old enough to be rolled up.
    assert refresh_rollups(env.factory, env.rt, limit=400) == 2
    assert_same([kpis(env, tokens["centre"], **DAYS)], [before])


def test_rolled_days_are_read_as_runs_of_consecutive_days() -> None:
    d = date(2026, 11, 1)
    days = [d + timedelta(days=i) for i in (5, 0, 1, 2, 9, 6)]
    assert day_runs(days) == [
        (d, d + timedelta(days=2)),
        (d + timedelta(days=5), d + timedelta(days=6)),
        (d + timedelta(days=9), d + timedelta(days=9)),
    ]
    assert day_runs([]) == []
