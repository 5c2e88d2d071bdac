"""The outer guard: security headers, body limits, rate limits per credential and per login name,
the error contract for parameters, and the login form's redirect. Clocks are FakeClocks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from quanzu.app import create_app
from quanzu.config import Settings
from quanzu.kit.clock import FakeClock
from quanzu.security.ratelimit import Rate, RateLimiter
from quanzu.security.setup import credential_rates, login_rate
from tests.conftest import START, Env
from tests.factories import PASSWORD, District, bearer, seed, warning

TIGHT = {
    "rate_machine_per_s": 10.0,
    "rate_machine_burst": 20,
    "rate_personal_per_s": 1.0,
    "rate_personal_burst": 3,
    "rate_session_per_s": 2.0,
    "rate_session_burst": 4,
    "rate_login_per_minute": 6.0,
    "rate_login_burst": 2,
    "max_request_bytes": 4096,
    "max_upload_bytes": 64 * 1024,
    "upload_paths": ("/api/v1/warnings/batch",),
}


@pytest.fixture
def district(env: Env) -> District:
    return seed(env)


@pytest.fixture
def tight(env: Env, district: District) -> Iterator[TestClient]:
    """The same database served by an app with small limits, on the test's clock."""
    app = create_app(env.settings.model_copy(update=TIGHT), env.clock)
    with TestClient(app, base_url="http://testserver") as client:
        yield client
    app.state.quanzu.engine.dispose()


# --- headers -----------------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(env: Env, district: District) -> None:
    for response in (
        env.client.get("/login"),
        env.client.get("/api/v1/cases", headers=bearer(district.tokens["centre"])),
        env.client.get("/api/v1/cases"),  # a refusal too
        env.client.get("/no-such-page"),
    ):
        h = response.headers
        csp = h["content-security-policy"]
        assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
        assert "camera=()" in h["permissions-policy"] and "geolocation=()" in h["permissions-policy"]
        assert h["cross-origin-opener-policy"] == "same-origin"
        assert h["cache-control"] == "no-store", response.url
        assert "strict-transport-security" not in h  # plain http


def test_static_files_stay_cacheable_and_docs_allow_only_inline_styles(env: Env) -> None:
    css = env.client.get("/static/own/app.css")
    assert css.status_code == 200 and css.headers.get("cache-control") != "no-store"
    docs = env.client.get("/docs")
    assert "<script>" not in docs.text  # Swagger UI starts from /static/swagger-init.js
    csp = docs.headers["content-security-policy"]
    assert "style-src 'self' 'unsafe-inline'" in csp and "script-src 'self';" in csp


def test_hsts_only_over_tls(env: Env) -> None:
    with TestClient(env.app, base_url="https://testserver") as tls:
        assert tls.get("/login").headers["strict-transport-security"].startswith("max-age=31536000")
    assert "strict-transport-security" not in env.client.get("/login").headers


# --- request size ------------------------------------------------------------------------------


def test_a_declared_oversize_body_is_refused_before_it_is_read(tight: TestClient, district: District) -> None:
    body = warning(description="长" * 3000)
    r = tight.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token))
    assert r.status_code == 413
    assert r.json()["errors"][0]["field"] == "body" and r.headers["x-frame-options"] == "DENY"


def test_a_streamed_oversize_body_is_cut_off(tight: TestClient, district: District) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        yield b'{"external_id": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    headers = {**bearer(district.feed_token), "content-type": "application/json"}
    r = tight.post("/api/v1/warnings", content=chunks(), headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    form = tight.post(
        "/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 413


def test_upload_routes_take_larger_bodies(tight: TestClient, district: District) -> None:
    items = [warning(f"BIG-{n}", description="长" * 500) for n in range(5)]  # ~10 kB: over 4 kB
    r = tight.post("/api/v1/warnings/batch", json={"warnings": items}, headers=bearer(district.feed_token))
    assert r.status_code == 200, r.text
    assert [item["status"] for item in r.json()["results"]] == [201, 200, 200, 200, 200]


def test_a_malformed_content_length_is_refused(tight: TestClient, district: District) -> None:
    headers = {**bearer(district.feed_token), "content-length": "12abc", "content-type": "application/json"}
    r = tight.post("/api/v1/warnings", content=b"{}", headers=headers)
    assert r.status_code == 413  # a real server's HTTP parser answers 400 before we see it


# --- rate limits per credential ----------------------------------------------------------------


def test_a_personal_token_gets_its_burst_then_429_with_retry_after(
    env: Env, tight: TestClient, district: District
) -> None:
    officer = bearer(district.tokens["centre"])
    assert [tight.get("/api/v1/auth/me", headers=officer).status_code for _ in range(3)] == [200] * 3
    refused = tight.get("/api/v1/auth/me", headers=officer)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1" and refused.json()["error"] == "rate_limited"
    # Another credential is not affected; the same one is served again once a token has refilled.
    assert tight.get("/api/v1/auth/me", headers=bearer(district.tokens["sl-d1"])).status_code == 200
    env.clock.advance(timedelta(seconds=1))
    assert tight.get("/api/v1/auth/me", headers=officer).status_code == 200
    assert tight.get("/api/v1/auth/me", headers=officer).status_code == 429


def test_machine_tokens_have_the_high_limit(tight: TestClient, district: District) -> None:
    bank = bearer(district.bank_token)
    statuses = [
        tight.post("/api/v1/screen", json={"phone": "13800000000"}, headers=bank).status_code
        for _ in range(21)
    ]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429


def test_static_assets_and_anonymous_calls_are_not_counted(tight: TestClient, district: District) -> None:
    officer = bearer(district.tokens["centre"])
    for _ in range(10):
        assert tight.get("/static/own/app.css", headers=officer).status_code == 200
    assert tight.get("/api/v1/auth/me", headers=officer).status_code == 200


def test_rates_are_shared_out_between_processes() -> None:
    settings = Settings(server_processes=4, rate_machine_per_s=300, rate_machine_burst=600)
    assert credential_rates(settings).machine == Rate(75.0, 150)
    assert login_rate(Settings(server_processes=4, rate_login_per_minute=12, rate_login_burst=2)) == Rate(
        0.05, 1
    )
    assert Rate(0, 10).per_process(4).unlimited


def test_the_bucket_refills_at_its_rate_and_never_beyond_its_burst() -> None:
    clock = FakeClock(START)
    limiter = RateLimiter(clock)
    rate = Rate(per_second=2.0, burst=3)
    assert [limiter.take("k", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k", rate) == pytest.approx(0.5)
    clock.advance(timedelta(hours=1))  # a long pause refills to the burst, not more
    assert [limiter.take("k", rate) for _ in range(4)][-1] > 0
    clock.advance(timedelta(seconds=-30))  # a clock stepping back grants nothing
    assert limiter.take("k", rate) > 0


def test_the_buckets_are_bounded() -> None:
    limiter = RateLimiter(FakeClock(START), max_keys=100)
    for n in range(1000):
        limiter.take(f"key-{n}", Rate(1.0, 1))
    assert len(limiter) == 100


# --- login names -------------------------------------------------------------------------------


def test_login_attempts_are_limited_per_name(env: Env, tight: TestClient) -> None:
    def attempt(name: str) -> int:
        r = tight.post("/api/v1/auth/login", json={"username": name, "password": "wrong-password"})
        return int(r.status_code)

    assert [attempt("centre"), attempt("Centre")] == [401, 401]  # one name, however it is cased
    refused = tight.post("/api/v1/auth/login", json={"username": "centre", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 10
    assert attempt("nobody-at-all") == 401  # other names are not affected
    assert tight.post("/login", data={"username": "centre", "password": PASSWORD}).status_code == 429
    env.clock.advance(timedelta(seconds=10))
    ok = tight.post("/api/v1/auth/login", json={"username": "centre", "password": PASSWORD})
    assert ok.status_code == 200


# --- the error contract and the login redirect -------------------------------------------------


def test_parameter_errors_use_the_api_error_form(env: Env, district: District) -> None:
    officer = bearer(district.tokens["centre"])
    r = env.client.get("/api/v1/cases/99999999999", headers=officer)
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "case_id", "message": "不能大于 2147483647"}]
    r = env.client.get("/api/v1/cases", params={"limit": "many"}, headers=officer)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example/"])
def test_login_never_redirects_off_site(env: Env, district: District, target: str) -> None:
    r = env.client.post(
        "/login", data={"username": "centre", "password": PASSWORD, "next": target}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith("/") and not r.headers["location"].startswith(("//", "/\\"))
