"""Importing the organisation from YAML and CSV, and the demo district."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from quanzu.demo import service as demo
from quanzu.kit.db import transaction
from quanzu.kit.errors import ValidationFailed
from quanzu.models.org import DutyShift, JurisdictionArea, OrgUnit, User
from quanzu.org.service import import_file, import_org
from tests.conftest import Env
from tests.factories import ORG


def counts(env: Env) -> tuple[int, int, int]:
    with env.reader() as s:
        return (
            s.scalar(select(func.count()).select_from(OrgUnit)) or 0,
            s.scalar(select(func.count()).select_from(JurisdictionArea)) or 0,
            s.scalar(select(func.count()).select_from(User)) or 0,
        )


def test_yaml_import_is_idempotent(env: Env, tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(ORG, allow_unicode=True), encoding="utf-8")
    with transaction(env.factory) as s:
        report = import_file(s, env.rt, path)
    assert (report.units, report.areas, report.users) == (1 + 2 + 3 + 2, 5, len(ORG["users"]))
    first = counts(env)
    with transaction(env.factory) as s:
        import_file(s, env.rt, path)
    assert counts(env) == first


def test_import_errors_name_the_field_and_store_nothing(env: Env) -> None:
    bad = {**ORG, "users": [{"username": "x y", "display_name": "坏", "role": "wizard"}]}
    with pytest.raises(ValidationFailed) as err, transaction(env.factory) as s:
        import_org(s, env.rt, bad)
    fields = {e.field for e in err.value.errors}
    assert {"users.0.username", "users.0.role"} <= fields
    assert counts(env) == (0, 0, 0)


def test_duplicate_area_names_are_refused(env: Env) -> None:
    dup = {
        "centre": ORG["centre"],
        "branches": [
            {
                "code": "B",
                "name": "b",
                "stations": [
                    {"code": "A", "name": "a", "areas": [{"name": "同里镇", "level": "town"}]},
                    {"code": "C", "name": "c", "areas": [{"name": "同里镇", "level": "town"}]},
                ],
            }
        ],
    }
    with pytest.raises(ValidationFailed, match="同里镇"), transaction(env.factory) as s:
        import_org(s, env.rt, dup)


def test_users_and_roster_from_csv(env: Env, tmp_path: Path) -> None:
    with transaction(env.factory) as s:
        import_org(s, env.rt, {"centre": ORG["centre"], "branches": ORG["branches"]})
    users = tmp_path / "users.csv"
    users.write_text("username,display_name,role,unit\nsl-x,新劝阻员,dissuader,SL-T1\n", encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "user,station,position,starts_at,ends_at\n"
        "sl-x,SL,member,2026-11-28T08:00:00+08:00,2026-11-28T20:00:00+08:00\n",
        encoding="utf-8",
    )
    with transaction(env.factory) as s:
        assert import_file(s, env.rt, users).users == 1
        assert import_file(s, env.rt, roster).shifts == 1
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "user,station,position,starts_at,ends_at\n"
        "sl-x,SL,member,2026-11-28T20:00:00+08:00,2026-11-28T08:00:00+08:00\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed) as err, transaction(env.factory) as s:
        import_file(s, env.rt, bad)
    assert err.value.errors[0].field == "roster.ends_at"


def test_demo_district_has_twenty_stations_and_a_roster_around_the_clock(env: Env) -> None:
    with transaction(env.factory) as s:
        loaded = demo.load(s, env.rt)
    assert loaded.report is not None and loaded.feed_token
    with env.reader() as s:
        stations = s.scalars(select(OrgUnit).where(OrgUnit.kind == "station")).all()
        assert len(stations) == 20
        names = {st.name for st in stations}
        assert {"松陵派出所", "盛泽派出所", "震泽派出所", "七都派出所"} <= names
        # Every station has a duty leader and two dissuaders at any hour of the coming week.
        for hour in range(0, 24 * 7, 5):
            at = env.clock.now().replace(minute=30) + timedelta(hours=hour)
            on = s.execute(
                select(DutyShift.station_id, DutyShift.position).where(
                    DutyShift.starts_at <= at, DutyShift.ends_at > at
                )
            ).all()
            assert len({sid for sid, pos in on if pos == "leader"}) == 20
            assert sum(1 for _, pos in on if pos == "member") == 40
    with transaction(env.factory) as s:
        again = demo.load(s, env.rt)
    assert again.report is None and again.feed_token is None  # idempotent


def test_demo_load_later_extends_the_roster(env: Env) -> None:
    with transaction(env.factory) as s:
        demo.load(s, env.rt)
    env.clock.advance(timedelta(days=8))  # less than a week of roster left
    with transaction(env.factory) as s:
        again = demo.load(s, env.rt)
    assert again.report is not None and again.report.shifts > 0
    at = env.clock.now() + timedelta(days=10)
    with env.reader() as s:
        leaders = s.scalars(
            select(DutyShift.station_id).where(
                DutyShift.position == "leader", DutyShift.starts_at <= at, DutyShift.ends_at > at
            )
        ).all()
    assert len(set(leaders)) == 20
