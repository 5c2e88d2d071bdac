"""Passwords, lockout, tokens stored only as hashes, and PII encrypted at rest."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from quanzu.models.auth import ApiToken
from quanzu.models.org import User
from tests.conftest import Env
from tests.factories import PASSWORD, bearer, id_number, seed, warning


def login(env: Env, username: str, password: str) -> int:
    r = env.client.post("/api/v1/auth/login", json={"username": username, "password": password})
    status: int = r.status_code
    return status


def test_login_gives_a_session_that_identifies_the_officer(env: Env) -> None:
    seed(env)
    r = env.client.post("/api/v1/auth/login", json={"username": "sl-d1", "password": PASSWORD})
    assert r.status_code == 200
    assert r.cookies.get("qz_session")
    me = env.client.get("/api/v1/auth/me").json()  # by the cookie
    assert me["name"] == "sl-d1" and me["role"] == "dissuader" and me["station_id"] is not None
    with env.reader() as s:
        user = s.scalars(select(User).where(User.username == "sl-d1")).one()
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")


def test_wrong_password_and_unknown_user_look_the_same(env: Env) -> None:
    seed(env)
    a = env.client.post("/api/v1/auth/login", json={"username": "sl-d1", "password": "wrong password"})
    b = env.client.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong password"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


def test_lockout_after_repeated_failures_then_release_after_the_window(env: Env) -> None:
    seed(env)
    for _ in range(env.settings.login_max_failures):
        assert login(env, "sl-d1", "wrong password") == 401
    assert login(env, "sl-d1", PASSWORD) == 429  # locked, even with the right password
    env.clock.advance(timedelta(minutes=env.settings.login_lockout_minutes))
    assert login(env, "sl-d1", PASSWORD) == 200


def test_logout_revokes_the_session(env: Env) -> None:
    seed(env)
    token = env.client.post("/api/v1/auth/login", json={"username": "sl-d1", "password": PASSWORD}).json()[
        "token"
    ]
    assert env.client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    assert env.client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert env.client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401


def test_sessions_expire(env: Env) -> None:
    seed(env)
    token = env.client.post("/api/v1/auth/login", json={"username": "sl-d1", "password": PASSWORD}).json()[
        "token"
    ]
    env.clock.advance(timedelta(hours=12, seconds=1))
    assert env.client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401


def test_tokens_are_stored_only_as_hashes(env: Env) -> None:
    district = seed(env)
    with env.reader() as s:
        stored = s.scalars(select(ApiToken.token_hash)).all()
    assert district.feed_token not in stored
    assert all(len(h) == 64 for h in stored)
    assert env.client.get("/api/v1/auth/me", headers=bearer(district.feed_token)).json()["role"] == "feed"


def test_identifiers_are_encrypted_at_rest(env: Env) -> None:
    district = seed(env)
    env.client.post("/api/v1/warnings", json=warning(), headers=bearer(district.feed_token))
    plain = [id_number(), "13862512345", "张三丰", "舜湖西路"]
    with env.reader() as s:
        dumps = [
            repr(row)
            for table in ("persons", "warnings", "case_events", "notifications", "audit_log", "outbox")
            for row in s.execute(text(f"SELECT * FROM {table}")).all()  # noqa: S608  (fixed names)
        ]
    everything = "\n".join(dumps)
    assert dumps
    for value in plain:
        assert value not in everything, f"{value} stored in clear"
