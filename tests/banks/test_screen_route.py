"""The lean screening route (banks/screen_route.py): the same answers as the framework route,
byte for byte; the same hardening, credential checks and audit; revocation taking effect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from quanzu.app import QuanzuApp, create_app
from quanzu.auth import service as auth
from quanzu.banks import service
from quanzu.banks.schemas import ScreenIn, _screen_fast, parse_screen
from quanzu.kit.db import transaction
from quanzu.kit.errors import ValidationFailed
from quanzu.kit.identifiers import cn_mobile_e164, id_check_char, phonenumbers_e164
from quanzu.kit.validation import parse
from quanzu.models.audit import ScreeningRecord
from quanzu.models.auth import ApiToken
from tests.banks.test_banks import blind
from tests.conftest import Env
from tests.dissuasion.test_workflow_api import SL, open_case
from tests.factories import bearer, seed

BANK_CLIENT = "bank-of-wujiang"  # the district's WJRCB system (tests.factories.seed)
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "content-security-policy", "cache-control")


@contextmanager
def framework_route(env: Env) -> Iterator[None]:
    """The app without its lean dispatch: the FastAPI endpoint answers instead."""
    app = env.app
    assert isinstance(app, QuanzuApp)
    lean, app.lean_routes = app.lean_routes, {}
    try:
        yield
    finally:
        app.lean_routes = lean


def _call(env: Env, token: str | None, content: bytes) -> tuple[int, bytes, dict[str, str]]:
    headers = {"content-type": "application/json", **(bearer(token) if token else {})}
    r = env.client.post("/api/v1/screen", content=content, headers=headers)
    return r.status_code, r.content, dict(r.headers)


def test_the_lean_route_answers_byte_for_byte_as_the_framework_route(env: Env) -> None:
    district = seed(env)
    open_case(env, district, "extreme")
    officer = district.tokens["centre"]
    bank = district.bank_token
    cases: list[tuple[str | None, bytes]] = [
        (bank, b'{"id_number": "%s", "channel": "atm", "amount": "12.50"}' % SL["id_number"].encode()),
        (bank, b'{"phone": "%s", "branch_code": "SZ01"}' % SL["phone"].encode()),
        (bank, b'{"blinded": {"phone": "%s"}}' % blind(district.bank_key, "+86" + SL["phone"]).encode()),
        (bank, b'{"phone": "+8613900000000"}'),
        (bank, b'{"account": "6222 0212 3456 7890"}'),
        (bank, b'{"channel": "counter"}'),
        (bank, b'{"blinded": {"phone": "abc"}, "id_number": "123", "amount": "1.234", "extra": 1}'),
        (bank, b"[1, 2]"),
        (bank, b"{not json"),
        (bank, b'{"phone": "13900000000", "amount": 1e400}'),
        (None, b'{"phone": "13900000000"}'),
        (None, b'{"channel": "nowhere"}'),  # the body is checked before the credential, as ever
        ("qzm_not-a-token", b'{"phone": "13900000000"}'),
        (district.feed_token, b'{"phone": "13900000000"}'),
        (officer, b'{"phone": "13900000000"}'),
        (bank, b'{"branch_code": "%s", "phone": "13900000000"}' % (b"x" * 300_000)),  # > max_body_bytes
    ]
    lean = [_call(env, token, body) for token, body in cases]
    with framework_route(env):
        framework = [_call(env, token, body) for token, body in cases]
    for case, ours, theirs in zip(cases, lean, framework, strict=True):
        assert ours == theirs, case
    statuses = [status for status, _body, _headers in lean]
    assert statuses == [200] * 5 + [422] * 5 + [401] + [422] + [401] + [403] * 2 + [413]
    assert lean[0][1].startswith(b'{"hit":true') and lean[3][1].startswith(b'{"hit":false')
    assert lean[10][2]["www-authenticate"] == "Bearer"
    assert all(name in headers for _s, _b, headers in lean for name in SECURITY_HEADERS)
    with env.reader() as s:  # every answered call, and only those, is in the screening log
        assert s.scalar(select(func.count()).select_from(ScreeningRecord)) == 2 * 5


def test_the_lean_route_keeps_the_hardening_layer(env: Env) -> None:
    district = seed(env)
    tight = env.settings.model_copy(
        update={"rate_machine_per_s": 10.0, "rate_machine_burst": 6, "max_request_bytes": 4096}
    )
    app = create_app(tight, env.clock)
    bank = bearer(district.bank_token)
    with TestClient(app, base_url="http://testserver") as client:
        big = client.post("/api/v1/screen", content=b"{" + b" " * 5000 + b"}", headers=bank)
        assert big.status_code == 413 and big.json()["errors"][0]["field"] == "body"
        # One bucket per credential, whichever route spends it: the lean one or the framework's.
        spent = [client.post("/api/v1/screen", json={"phone": "13900000000"}, headers=bank) for _ in range(3)]
        spent += [client.get("/api/v1/bank-events", headers=bank) for _ in range(2)]
        refused = client.post("/api/v1/screen", json={"phone": "13900000000"}, headers=bank)
        assert [r.status_code for r in spent] == [200] * 5
        assert refused.status_code == 429 and refused.headers["retry-after"]
        for r in (big, *spent, refused):
            assert all(name in r.headers for name in SECURITY_HEADERS), r.headers
        env.clock.advance(timedelta(seconds=1))
        assert client.post("/api/v1/screen", json={"phone": "13900000000"}, headers=bank).status_code == 200
    app.state.quanzu.engine.dispose()


def test_other_methods_and_paths_take_the_framework_route(env: Env) -> None:
    district = seed(env)
    assert env.client.get("/api/v1/screen", headers=bearer(district.bank_token)).status_code == 405
    assert env.client.get("/api/v1/ping").json() == {"ok": True}
    assert "/api/v1/screen" in env.client.get("/openapi.json").json()["paths"]


def test_a_failure_inside_screening_is_a_plain_500_with_the_security_headers(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    district = seed(env)

    async def broken(*_args: Any) -> None:
        raise RuntimeError("the index is gone")

    monkeypatch.setattr(service, "screen", broken)
    r = env.client.post("/api/v1/screen", json={"phone": "13900000000"}, headers=bearer(district.bank_token))
    assert r.status_code == 500 and r.text == "Internal Server Error"
    assert all(name in r.headers for name in SECURITY_HEADERS)


# --- revocation --------------------------------------------------------------------------------


def _screen_status(client: TestClient, token: str) -> int:
    status: int = client.post(
        "/api/v1/screen", json={"phone": "13900000000"}, headers=bearer(token)
    ).status_code
    return status


def test_a_revoked_bank_token_is_refused_at_once_and_a_new_one_works(env: Env) -> None:
    district = seed(env)
    assert _screen_status(env.client, district.bank_token) == 200  # now in the credential cache
    with transaction(env.factory) as s:
        assert auth.revoke_client_tokens(s, env.rt, BANK_CLIENT) == 1
    refused = env.client.post(
        "/api/v1/screen", json={"phone": "13900000000"}, headers=bearer(district.bank_token)
    )
    assert refused.status_code == 401 and refused.json()["error"] == "not_authenticated"
    with transaction(env.factory) as s:
        fresh = auth.new_client_token(s, env.rt, BANK_CLIENT)
    assert _screen_status(env.client, fresh) == 200
    assert _screen_status(env.client, district.bank_token) == 401


def test_a_revocation_rolled_back_changes_nothing(env: Env) -> None:
    district = seed(env)
    assert _screen_status(env.client, district.bank_token) == 200

    def abandoned() -> None:
        with transaction(env.factory) as s:
            auth.revoke_client_tokens(s, env.rt, BANK_CLIENT)
            raise RuntimeError("abandoned")

    with pytest.raises(RuntimeError):
        abandoned()
    assert _screen_status(env.client, district.bank_token) == 200


def test_a_token_revoked_behind_quanzus_back_is_refused_once_the_cache_ttl_passes(env: Env) -> None:
    district = seed(env)
    assert _screen_status(env.client, district.bank_token) == 200
    with env.factory() as s:  # an administrator's SQL: no announcement
        s.execute(update(ApiToken).where(ApiToken.kind == "machine").values(revoked_at=env.clock.now()))
        s.commit()
    assert _screen_status(env.client, district.bank_token) == 200  # cached: the documented delay
    env.clock.advance(timedelta(seconds=env.settings.auth_cache_seconds))
    assert _screen_status(env.client, district.bank_token) == 401


@pytest.mark.postgres_only
def test_another_process_refuses_a_revoked_token_through_listen_notify(env: Env) -> None:
    district = seed(env)
    other = create_app(env.settings, env.clock)
    with TestClient(other) as second:
        assert _screen_status(second, district.bank_token) == 200  # cached there
        with transaction(env.factory) as s:
            auth.revoke_client_tokens(s, env.rt, BANK_CLIENT)
        heard = threading.Event()
        for _ in range(250):  # waits for the notification; asserts nothing about speed
            if _screen_status(second, district.bank_token) == 401:
                heard.set()
                break
            heard.wait(0.02)
        assert heard.is_set()
    other.state.quanzu.engine.dispose()


# --- the hand-checked parser -------------------------------------------------------------------

_first17 = st.from_regex(
    r"[1-8][0-9]{5}(19[4-9][0-9]|20[01][0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}", fullmatch=True
)
id_numbers = st.one_of(
    _first17.map(lambda f: f + id_check_char(f)),
    _first17.map(lambda f: (f + id_check_char(f)).lower()),
    _first17.map(lambda f: f"  {f}{id_check_char(f)} "),
    _first17.map(lambda f: f + "0"),
    st.from_regex(r"[0-9X]{0,20}", fullmatch=True),
)
phones = st.one_of(
    st.from_regex(r"(\+86)?1[3-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"(\+86)?1[0-9]{10,11}", fullmatch=True),
    st.from_regex(r" ?(\+86 ?)?(0512-?)?[0-9 -]{6,12}", fullmatch=True),
)
accounts = st.from_regex(r"[0-9 -]{8,34}", fullmatch=True)
hexes = st.one_of(
    st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    st.from_regex(r"[0-9a-fA-F]{62,66}", fullmatch=True),
    st.from_regex(r" ?[0-9a-f]{64}\n?", fullmatch=True),
)
amounts = st.one_of(
    st.from_regex(r"-?[0-9]{1,14}(\.[0-9]{0,3})?", fullmatch=True),
    st.sampled_from(["1e3", " 12.5", "NaN", "", "0300.50", "1_000"]),
    st.integers(min_value=-5, max_value=10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
)
branches = st.one_of(st.from_regex(r"[0-9A-Za-z_ -]{0,40}", fullmatch=True), st.text(max_size=5))
anything = st.one_of(st.none(), st.integers(), st.booleans(), st.lists(st.integers(), max_size=1))


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, values, values, anything)


blinded = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id_number": _maybe(hexes),
            "phone": _maybe(hexes),
            "account": _maybe(hexes),
            "other": hexes,
        },
    ),
    anything,
)
bodies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id_number": _maybe(id_numbers),
            "phone": _maybe(phones),
            "account": _maybe(accounts),
            "blinded": blinded,
            "channel": _maybe(
                st.sampled_from(["counter", "atm", "mobile", "online", "other", "Counter", ""])
            ),
            "amount": amounts,
            "branch_code": _maybe(branches),
            "customer": st.text(max_size=3),
        },
    ),
    anything,
)


def _outcome(fn: Any, data: Any) -> Any:
    try:
        model: ScreenIn = fn(data)
    except ValidationFailed as exc:
        return ("errors", [(e.field, e.message) for e in exc.errors])
    return ("model", model.model_dump(), str(model.amount))


@settings(max_examples=300, deadline=None)  # a shared machine: no per-example deadline
@given(bodies)
def test_the_fast_parser_answers_exactly_as_the_model(data: Any) -> None:
    assert _outcome(parse_screen, data) == _outcome(lambda d: parse(ScreenIn, d), data)


def test_the_fast_parser_takes_the_bodies_banks_send() -> None:
    first17 = "32058419400101100"
    compact = [
        {"id_number": first17 + id_check_char(first17), "channel": "counter", "amount": "300.00"},
        {"phone": "+8613912345678", "branch_code": "SZ01"},
        {"phone": "13912345678", "amount": "5"},
        {"account": "6222021234567890123"},
        {"blinded": {"phone": "ab" * 32, "id_number": None}, "channel": "atm"},
    ]
    for body in compact:
        fast = _screen_fast(body)
        assert fast is not None, body
        assert fast.model_dump() == parse(ScreenIn, body).model_dump()
    assert _screen_fast({"amount": "5"}) is None  # nothing to screen: the model says why
    assert parse_screen({"phone": "13912345678", "amount": "5"}).amount == Decimal("5")


def test_the_mobile_fast_path_agrees_with_phonenumbers_on_every_prefix() -> None:
    """Every 5-digit prefix of an 11-digit number starting with 1, and every 7-digit one where
    the metadata looks that deep (1740x, 1610), in both compact forms."""
    prefixes = [str(p) for p in range(10000, 20000)]
    prefixes += [str(p) for p in range(1740000, 1741000)] + [str(p) for p in range(1610000, 1611000)]
    for prefix in prefixes:
        for national in (prefix + "0" * (11 - len(prefix)), prefix + "9" * (11 - len(prefix))):
            for raw in (national, "+86" + national):
                fast = cn_mobile_e164(raw)
                assert fast is None or fast == phonenumbers_e164(raw), raw
    assert cn_mobile_e164("13912345678") == "+8613912345678"
