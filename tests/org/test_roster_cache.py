"""The serving process's roster cache (`org.cache.RosterCache`): dispatch reads every station's
shifts once per span, and still picks exactly who is on duty at that moment — across a shift
change, after a roster edit (here and, through NOTIFY, in another process), and inside the very
transaction that edits the roster."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from quanzu.app import create_app
from quanzu.models.org import DutyShift, OrgUnit, User
from quanzu.org.cache import ROSTER_SPAN, on_duty
from tests.conftest import Env
from tests.dispatch.test_dispatch import SL_ADDRESS, assigned, notified, post
from tests.factories import PASSWORD, seed, statements_sent, warning


@contextmanager
def roster_reads(engine: Engine) -> Iterator[list[str]]:
    """The statements that read the roster (`duty_shifts`)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        if "duty_shifts" in args[2]:
            seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _post(env: Env, token: str, n: int, **target: str) -> dict[str, str]:
    body = warning(f"R-{n}", target={**SL_ADDRESS, "phone": f"1386251{n:04d}", "id_number": None, **target})
    return assigned(env, post(env, token, body)["case_id"])


DAY = {"sl-leader-day": "leader", "sl-d1": "member", "sl-d2": "member"}


def test_dispatch_reads_the_roster_once_per_span_and_across_a_shift_change(env: Env) -> None:
    district = seed(env)  # 14:00 in Suzhou: the day shift
    engine = env.app.state.quanzu.engine
    with roster_reads(engine) as reads:
        assert _post(env, district.feed_token, 1) == DAY
        env.clock.advance(ROSTER_SPAN / 2)
        assert _post(env, district.feed_token, 2) == DAY
        assert len(reads) == 1  # one read for both
        env.clock.advance(timedelta(hours=6) - ROSTER_SPAN / 2)  # 20:00: the night shift, exactly
        assert _post(env, district.feed_token, 3) == {"sl-leader-night": "leader", "sl-d3": "member"}
        assert len(reads) == 2


def _hour_on_duty(session: Session, env: Env, username: str) -> tuple[int, int]:
    """Adds an hour's shift at SL from now for `username`; returns (station id, user id)."""
    now = env.clock.now()
    station = session.scalars(select(OrgUnit).where(OrgUnit.code == "SL")).one()
    user = session.scalars(select(User).where(User.username == username)).one()
    session.add(
        DutyShift(
            station_id=station.id,
            user_id=user.id,
            position="member",
            starts_at=now,
            ends_at=now + timedelta(hours=1),
        )
    )
    return station.id, user.id


def _add_shift(env: Env, username: str) -> None:
    with env.factory.begin() as session:
        _hour_on_duty(session, env, username)


def _set_active(env: Env, username: str, active: bool) -> None:
    with env.factory.begin() as session:
        session.scalars(select(User).where(User.username == username)).one().active = active


def test_a_roster_edit_is_seen_by_the_next_dispatch(env: Env) -> None:
    district = seed(env)
    assert _post(env, district.feed_token, 1) == DAY  # the cache holds the day shift
    _add_shift(env, "sl-d3")
    assert _post(env, district.feed_token, 2) == {**DAY, "sl-d3": "member"}
    _set_active(env, "sl-d1", False)
    assert _post(env, district.feed_token, 3) == {
        "sl-leader-day": "leader",
        "sl-d2": "member",
        "sl-d3": "member",
    }


def _triage(env: Env, token: str, n: int) -> set[str]:
    """Who hears of an unroutable warning: the centre staff."""
    target = {"address": "浙江省杭州市西湖区文三路90号", "phone": f"1380571{n:04d}", "id_number": None}
    case = post(env, token, warning(f"T-{n}", target=target))
    assert case["routing"]["method"] == "triage"
    return notified(env, case["case_id"])


def test_the_centre_staff_come_from_the_cache_and_follow_role_and_activation_edits(env: Env) -> None:
    district = seed(env)
    assert _triage(env, district.feed_token, 1) == {"centre"}  # the span read, the centre staff with it
    with statements_sent(env, lambda sql: "users.role" in sql) as reads:
        assert _triage(env, district.feed_token, 2) == {"centre"}
        assert reads == []
    with env.factory.begin() as session:
        session.scalars(select(User).where(User.username == "auditor")).one().role = "centre"
    assert _triage(env, district.feed_token, 3) == {"centre", "auditor"}
    _set_active(env, "centre", False)
    assert _triage(env, district.feed_token, 4) == {"auditor"}


def test_a_login_does_not_empty_the_cache(env: Env) -> None:
    district = seed(env)
    engine = env.app.state.quanzu.engine
    _post(env, district.feed_token, 1)
    with roster_reads(engine) as reads:
        r = env.client.post("/api/v1/auth/login", json={"username": "sl-d1", "password": "wrong"})
        assert r.status_code == 401  # a failed login writes the user's counters
        r = env.client.post("/api/v1/auth/login", json={"username": "sl-d1", "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert _post(env, district.feed_token, 2) == DAY
        assert reads == []


def test_a_transaction_that_edits_the_roster_reads_it_from_the_database(env: Env) -> None:
    seed(env)
    now = env.clock.now()
    with env.factory.begin() as session:
        station = session.scalars(select(OrgUnit).where(OrgUnit.code == "SL")).one()
        assert len(on_duty(session, env.rt.roster, station.id, now)) == 3  # fills the cache
    with env.factory.begin() as session:
        _, d3_id = _hour_on_duty(session, env, "sl-d3")  # pending, not even flushed
        assert d3_id in {user for user, _ in on_duty(session, env.rt.roster, station.id, now)}
        session.rollback()
    with env.factory.begin() as session:  # rolled back: nothing changed, nobody told
        assert d3_id not in {user for user, _ in on_duty(session, env.rt.roster, station.id, now)}


@pytest.mark.postgres_only
def test_another_process_sees_a_roster_edit_through_listen_notify(env: Env) -> None:
    district = seed(env)
    other = create_app(env.settings, env.clock)
    with TestClient(other) as second:

        def dispatched(n: int) -> dict[str, str]:
            body = warning(f"O-{n}", target={**SL_ADDRESS, "phone": f"1386252{n:04d}", "id_number": None})
            r = second.post(
                "/api/v1/warnings", json=body, headers={"Authorization": f"Bearer {district.feed_token}"}
            )
            assert r.status_code == 201, r.text
            return assigned(env, r.json()["case_id"])

        assert dispatched(0) == DAY  # cached there
        _add_shift(env, "sl-d3")  # through this process
        heard = threading.Event()
        for n in range(1, 250):  # waits for the notification; asserts nothing about speed
            if "sl-d3" in dispatched(n):
                heard.set()
                break
            heard.wait(0.02)
        assert heard.is_set()
    other.state.quanzu.engine.dispose()
