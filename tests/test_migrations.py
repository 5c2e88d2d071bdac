"""The schema comes from Alembic alone, and the models and the migrations agree."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import IntegrityError

from quanzu.kit.db import Base
from quanzu.kit.migrate import upgrade
from tests.conftest import PG_ADMIN_URL


def test_models_match_the_migrated_schema(database_url: str) -> None:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no revision has touched yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'q.sqlite3'}"
        return
    name = f"quanzu_test_{uuid.uuid4().hex[:12]}_migrations"
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


_UNIT = "INSERT INTO org_units (id, kind, code, name, settings) VALUES (:id, 'station', :code, '', '{}')"
_PERSON = (
    "INSERT INTO persons (id, name_masked, id_number_masked, phone_masked, created_at) "
    "VALUES (1, '王*', '-', '-', :at)"
)
_CASE = (
    "INSERT INTO cases (id, person_id, station_id, state, tier, risk_level, scam_type, urgency, "
    "signal_count, routing_method, routing_detail, opened_at, updated_at) "
    "VALUES (:id, 1, :station, 'closed', 1, 'high', 'loan', 0, 1, 'address', '', :at, :at)"
)
_PLAN = (
    "INSERT INTO follow_up_plans (id, case_id, person_id, risk_level, trigger, started_at, created_by) "
    "VALUES (:id, :id, 1, 'high', 'face_to_face', :at, 'x')"
)
_CALLBACK = (
    "INSERT INTO follow_up_callbacks (plan_id, case_id, seq, day, due_at, overdue_at, token, warning_signs, "
    "note, done_at) VALUES (:plan, :plan, :seq, :seq, :at, :at, 't', '[]', '', :done)"
)


def test_0018_backfills_each_callback_s_station_from_its_case(empty_database: str) -> None:
    """Callbacks made before revision 0018 get their case's station; the column is then required
    (a callback without a station is refused)."""
    upgrade(empty_database, "0017")
    engine = create_engine(empty_database.replace("postgresql://", "postgresql+psycopg://"))
    at = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    with engine.begin() as conn:
        for unit, code in ((10, "SL"), (20, "SZ")):
            conn.execute(text(_UNIT), {"id": unit, "code": code})
        conn.execute(text(_PERSON), {"at": at})
        for case_id, station in ((1, 10), (2, 20), (3, 20)):
            conn.execute(text(_CASE), {"id": case_id, "station": station, "at": at})
        for plan in (1, 2):  # case 3 has no plan
            conn.execute(text(_PLAN), {"id": plan, "at": at})
            for seq in (1, 2):
                done = at if seq == 1 else None
                conn.execute(text(_CALLBACK), {"plan": plan, "seq": seq, "at": at, "done": done})
    upgrade(empty_database)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT case_id, seq, station_id FROM follow_up_callbacks ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [(1, 1, 10), (1, 2, 10), (2, 1, 20), (2, 2, 20)]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(_CALLBACK), {"plan": 1, "seq": 3, "at": at, "done": None})
    engine.dispose()


_SLA = "INSERT INTO case_slas (id, case_id, kind, due_at, token) VALUES (:id, :case, :kind, :at, 't')"


def _versions(conn: Connection) -> dict[str, int]:
    rows = conn.execute(text("SELECT day, version FROM kpi_rollup_days ORDER BY day")).all()
    return {str(day): version for day, version in rows}


def _bumps_by_sla_changes(url: str, revision: str) -> list[dict[str, int]]:
    """The rollup day versions after each change to an SLA clock, its case and its warning, at
    this revision."""
    upgrade(url, revision)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    day1, day2 = datetime(2026, 11, 20, 4, 0, tzinfo=UTC), datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    seen: list[dict[str, int]] = []
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO kpi_rollup_days (day, version) VALUES ('2026-11-20', 0), ('2026-11-21', 0)")
        )
        conn.execute(text(_UNIT), {"id": 10, "code": "SL"})
        conn.execute(text(_PERSON), {"at": day1})
        for case_id, at in ((1, day1), (2, day2)):
            conn.execute(text(_CASE), {"id": case_id, "station": 10, "at": at})
        seen.append(_versions(conn))
        for step in (
            (_SLA, {"id": 1, "case": 1, "kind": "sign", "at": day2}),  # counted on its case's day
            ("UPDATE case_slas SET met_at = :at WHERE id = 1", {"at": day2}),
            ("UPDATE case_slas SET case_id = 2 WHERE id = 1", {}),  # both cases' days
            ("DELETE FROM case_slas WHERE id = 1", {}),
        ):
            conn.execute(text(step[0]), step[1])
            seen.append(_versions(conn))
    engine.dispose()
    return seen


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_0019_rollup_triggers_bump_the_same_days_as_before(empty_database: str) -> None:
    """Revision 0019 rewrites the rollup triggers for speed: each change still bumps the version
    of exactly the days it touches, as under revision 0018."""
    before = _bumps_by_sla_changes(empty_database, "0018")
    engine = create_engine(empty_database.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for table in ("case_slas", "cases", "persons", "org_units", "kpi_rollup_days"):
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608
    engine.dispose()
    assert (
        _bumps_by_sla_changes(empty_database, "head")
        == before
        == [
            {"2026-11-20": 1, "2026-11-21": 1},
            {"2026-11-20": 2, "2026-11-21": 1},
            {"2026-11-20": 3, "2026-11-21": 1},
            {"2026-11-20": 4, "2026-11-21": 2},
            {"2026-11-20": 4, "2026-11-21": 3},
        ]
    )
