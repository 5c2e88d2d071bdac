"""The repeat-warning flag is decided when a case opens and kept on it (`Case.repeat_warned_30d`);
the KPI counts it. It must agree with the definition: another warning of the person, of another
case, received strictly before the case opened and at most 30 days earlier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, select, text

from quanzu.codes import REPEAT_WARNING_WINDOW
from quanzu.kit.migrate import upgrade
from quanzu.models.cases import Case, EarlyWarning
from tests.conftest import Env
from tests.dissuasion.test_workflow_api import REVERSE
from tests.factories import seed
from tests.reports.test_kpis import SZ_ADDRESS, close, kpis, post_warning, step

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # 10:00 local, 1 Nov


def by_definition(env: Env) -> dict[int, bool]:
    """Each case's flag recomputed from the warnings, as the definition reads."""
    with env.reader() as session:
        cases = session.execute(select(Case.id, Case.person_id, Case.opened_at)).all()
        warnings = session.execute(
            select(EarlyWarning.person_id, EarlyWarning.case_id, EarlyWarning.received_at)
        ).all()
    return {
        case_id: any(
            p == person and c != case_id and opened - REPEAT_WARNING_WINDOW <= at < opened
            for p, c, at in warnings
        )
        for case_id, person, opened in cases
    }


def stored(env: Env) -> dict[int, bool]:
    with env.reader() as session:
        return {i: f for i, f in session.execute(select(Case.id, Case.repeat_warned_30d)).all()}


def test_a_case_opened_within_30_days_of_an_earlier_warning_is_a_repeat(env: Env) -> None:
    district = seed(env)
    centre, sz = district.tokens["centre"], district.tokens["sz-d1"]
    env.clock.set(T0)
    first = post_warning(env, district, "P1", 1, SZ_ADDRESS)["case_id"]  # person P, new
    other = post_warning(env, district, "Q1", 2, SZ_ADDRESS)["case_id"]  # person Q, new
    for case_id in (first, other):
        step(env, sz, case_id, 30, "sign")
        step(env, sz, case_id, 30, "phone", "no_answer")
        close(env, sz, case_id, {"outcome": "lost", "amount_lost": "100.00", "reverse_check": REVERSE})

    env.clock.set(T0 + timedelta(days=10))  # P again, 10 days later: a new case, a repeat
    repeat = post_warning(env, district, "P2", 1, SZ_ADDRESS)
    assert not repeat["merged"]
    env.clock.advance(timedelta(hours=1))  # and once more while it is open: merged, no new case
    merged = post_warning(env, district, "P3", 1, SZ_ADDRESS)
    assert (merged["merged"], merged["case_id"]) == (True, repeat["case_id"])

    env.clock.set(T0 + timedelta(days=40))  # Q again, 40 days later: a new case, not a repeat
    late = post_warning(env, district, "Q2", 2, SZ_ADDRESS)
    assert not late["merged"]

    flags = stored(env)
    assert flags == {first: False, other: False, repeat["case_id"]: True, late["case_id"]: False}
    assert flags == by_definition(env)
    k = kpis(env, centre, **{"from": "2026-11-11", "to": "2026-11-11"})
    assert (k["cases"], k["warnings"], k["repeat_warning_rate_30d"]) == (1, 2, 1.0)
    k = kpis(env, centre, **{"from": "2026-12-11", "to": "2026-12-11"})
    assert (k["cases"], k["repeat_warning_rate_30d"]) == (1, 0.0)
    k = kpis(env, centre, **{"from": "2026-11-01", "to": "2026-12-11"})
    assert (k["cases"], k["repeat_warning_rate_30d"]) == (4, 0.25)


def stamp(at: datetime) -> str:
    """A UTC moment as SQLAlchemy keeps it in SQLite (always six fraction digits)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def test_the_migration_backfills_the_flag_by_the_definition(tmp_path: Path) -> None:
    """Revision 0016 on SQLite: cases opened before it get the flag from the warnings table
    (exact to the microsecond at the 30-day edge)."""
    url = f"sqlite:///{tmp_path / 'q.sqlite3'}"
    upgrade(url, "0015")
    engine = create_engine(url)
    opened = datetime(2026, 11, 28, 6, 0, 0, 500_000, tzinfo=UTC)
    edge = opened - timedelta(days=30)
    # (case, person, opened, warnings received for it); case 1 is person 1's, cases 2-5 open later.
    cases = [
        (1, 1, edge - timedelta(days=5), []),
        (2, 1, opened, []),  # exactly 30 days after case 1's warning (moved to the edge below): yes
        (3, 2, edge - timedelta(microseconds=1), []),
        (4, 2, opened, []),  # person 2's last warning was 30 days and 1 µs before: not a repeat
        (5, 3, opened, [opened - timedelta(seconds=1)]),  # its own earlier warning only: no
    ]
    with engine.begin() as conn:
        for person in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO persons (id, name_masked, id_number_masked, phone_masked, created_at) "
                    "VALUES (:id, '王*', '-', '-', :at)"
                ),
                {"id": person, "at": stamp(edge - timedelta(days=9))},
            )
        n = 0
        for case_id, person, at, extra in cases:
            conn.execute(
                text(
                    "INSERT INTO cases (id, person_id, state, tier, risk_level, scam_type, urgency, "
                    "signal_count, routing_method, routing_detail, opened_at, updated_at) VALUES "
                    "(:id, :person, 'closed', 1, 'high', 'loan', 0, 1, 'address', '', :at, :at)"
                ),
                {"id": case_id, "person": person, "at": stamp(at)},
            )
            for received in [at, *extra]:
                n += 1
                conn.execute(
                    text(
                        "INSERT INTO warnings (id, source, external_id, content_hash, case_id, person_id, "
                        "merged, issued_at, received_at, scam_type, risk_level, description, "
                        "routing_method, routing_detail, target_enc) VALUES (:n, 'bank', :ext, '', :case, "
                        ":person, 0, :at, :at, 'loan', 'high', '', 'address', '', x'00')"
                    ),
                    {"n": n, "ext": f"w{n}", "case": case_id, "person": person, "at": stamp(received)},
                )
        # Case 2's earlier warning belongs to case 1 (same person), received at the edge.
        conn.execute(text("UPDATE warnings SET received_at = :at WHERE case_id = 1"), {"at": stamp(edge)})
    upgrade(url)
    with engine.connect() as conn:
        flags: dict[int, int] = dict(conn.execute(text("SELECT id, repeat_warned_30d FROM cases")).all())
    engine.dispose()
    assert flags == {1: 0, 2: 1, 3: 0, 4: 0, 5: 0}
