"""Concurrent retries of one key, and concurrent warnings about one new person, over real HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from quanzu.models.cases import Case, EarlyWarning, Person
from tests.conftest import Env, LiveServer
from tests.factories import bearer, seed, warning


def _post_all(url: str, token: str, bodies: list[dict[str, object]]) -> list[httpx.Response]:
    def one(body: dict[str, object]) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60, trust_env=False) as c:
            return c.post("/api/v1/warnings", json=body, headers=bearer(token))

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_twenty_concurrent_posts_of_one_key_store_one_warning(env: Env, live_server: LiveServer) -> None:
    district = seed(env)
    responses = _post_all(live_server.url, district.feed_token, [warning("RACE-1")] * 20)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    assert len({r.json()["warning_id"] for r in responses}) == 1
    with env.reader() as s:
        assert s.scalar(select(func.count()).select_from(EarlyWarning)) == 1
        assert s.scalar(select(func.count()).select_from(Case)) == 1


def test_concurrent_warnings_about_one_new_person_open_one_case(env: Env, live_server: LiveServer) -> None:
    district = seed(env)
    bodies = [
        warning(f"P-{i}", source=src) for i, src in enumerate(["national", "bank", "telecom", "hotline"] * 3)
    ]
    responses = _post_all(live_server.url, district.feed_token, bodies)
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert sum(r.status_code == 201 for r in responses) == 1
    assert len({r.json()["case_id"] for r in responses}) == 1
    with env.reader() as s:
        assert s.scalar(select(func.count()).select_from(EarlyWarning)) == 12
        assert s.scalar(select(func.count()).select_from(Person)) == 1
        case = s.scalars(select(Case)).one()
        assert case.signal_count == 12
