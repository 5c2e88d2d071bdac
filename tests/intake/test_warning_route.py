"""The lean warning route (`intake.endpoints.WarningRoute`): a feed's call answered byte for byte
as the framework route answers it, with the same hardening; a browser session still goes the
framework's way (cookie and CSRF check)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from quanzu.intake import endpoints
from quanzu.intake import service as intake
from quanzu.models.cases import EarlyWarning
from tests.banks.test_screen_route import SECURITY_HEADERS, framework_route
from tests.conftest import Env
from tests.factories import bearer, seed, warning
from tests.web.test_pages import csrf, login

Call = tuple[str | None, bytes]


def _call(env: Env, token: str | None, content: bytes) -> tuple[int, bytes, dict[str, str]]:
    headers = {"content-type": "application/json", **(bearer(token) if token else {})}
    r = env.client.post("/api/v1/warnings", content=content, headers=headers)
    return r.status_code, r.content, {k: v for k, v in r.headers.items() if k != "date"}


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _stored(env: Env) -> int:
    with env.reader() as s:
        return int(s.scalar(select(func.count()).select_from(EarlyWarning)) or 0)


def test_the_lean_route_answers_byte_for_byte_as_the_framework_route(env: Env) -> None:
    district = seed(env)
    feed = district.feed_token
    stored = warning("W-1")
    assert env.client.post("/api/v1/warnings", json=stored, headers=bearer(feed)).status_code == 201
    conflicting = {**stored, "description": "另一段内容"}
    calls: list[Call] = [
        (feed, _json(stored)),  # a replay: 200, the same ids
        (feed, _json(conflicting)),  # 409
        (feed, _json({**warning("W-2"), "risk_level": "apocalyptic"})),
        (feed, _json({**warning("W-3"), "target": {"name": "李四", "id_number": "320584199001011235"}})),
        (feed, b"[1, 2]"),
        (feed, b"{not json"),
        (None, _json(warning("W-4"))),  # no credential: the framework answers, as ever
        ("qzm_not-a-token", _json(warning("W-5"))),
        (district.bank_token, _json(warning("W-6"))),  # a bank may not send warnings: 403
        ("qzm_not-a-token", b"{not json"),  # the body is checked before the credential
        (feed, _json({**warning("W-7"), "description": "x" * 300_000})),  # > max_body_bytes
    ]
    lean = [_call(env, token, body) for token, body in calls]
    with framework_route(env):
        framework = [_call(env, token, body) for token, body in calls]
    for call, ours, theirs in zip(calls, lean, framework, strict=True):
        assert ours == theirs, call
    assert [status for status, _b, _h in lean] == [200, 409, 422, 422, 422, 422, 401, 401, 403, 422, 413]
    assert all(name in headers for _s, _b, headers in lean for name in SECURITY_HEADERS)
    assert _stored(env) == 1


def test_a_warning_the_lean_route_stored_is_replayed_by_the_framework_route(env: Env) -> None:
    district = seed(env)
    body = _json(warning("W-NEW"))
    status, answer, _headers = _call(env, district.feed_token, body)
    assert status == 201 and json.loads(answer)["case_id"]
    with framework_route(env):
        replay = _call(env, district.feed_token, body)
    assert replay[:2] == (200, answer)
    assert _stored(env) == 1


def test_a_browser_session_posts_through_the_framework_route_with_its_csrf_check(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(env)

    async def not_here(*_args: Any) -> tuple[int, bytes]:
        raise AssertionError("a cookie session must not take the lean route")

    monkeypatch.setattr(endpoints.WarningRoute, "answer", not_here)
    client: TestClient = login(env, "centre")
    token = csrf(client.get("/").text)
    refused = client.post("/api/v1/warnings", json=warning("W-CSRF"))
    created = client.post("/api/v1/warnings", json=warning("W-CSRF"), headers={"X-CSRF-Token": token})
    assert refused.status_code == 403
    assert created.status_code == 201, created.text
    assert _stored(env) == 1


def test_a_feeds_warning_prepared_before_its_transaction_is_replayed_by_one_prepared_inside(env: Env) -> None:
    """A feed's warning has its content hash and blind indexes computed in the serving process
    (`intake.Prepared`, for the shared writer); a browser session's, in its transaction. The two
    must agree: the same warning again is a replay, a changed one a conflict."""
    district = seed(env)
    body = warning("W-PREP", target={"name": "王小明"})
    stored = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token))
    assert stored.status_code == 201, stored.text
    client: TestClient = login(env, "centre")
    headers = {"X-CSRF-Token": csrf(client.get("/").text)}
    replay = client.post("/api/v1/warnings", json=body, headers=headers)
    changed = client.post(
        "/api/v1/warnings", json={**body, "target": {**body["target"], "name": "王小红"}}, headers=headers
    )
    assert (replay.status_code, replay.json()) == (200, stored.json())
    assert changed.status_code == 409
    assert _stored(env) == 1


def test_a_failure_inside_intake_is_a_plain_500_with_the_security_headers(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    district = seed(env)

    def broken(*_args: Any) -> None:
        raise RuntimeError("the database is gone")

    monkeypatch.setattr(intake, "receive", broken)
    status, body, headers = _call(env, district.feed_token, _json(warning("W-500")))
    assert (status, body) == (500, b"Internal Server Error")
    assert all(name in headers for name in SECURITY_HEADERS)
