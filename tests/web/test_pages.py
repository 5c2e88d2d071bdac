"""The pages over HTTP (the browser tests drive them in Chromium): sign-in redirects, CSRF on
cookie sessions, escaping, the roster editor and the dashboard's numbers."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from quanzu.kit.db import transaction
from quanzu.org.service import add_user
from tests.conftest import Env
from tests.dissuasion.test_workflow_api import REVERSE, move, open_case
from tests.factories import PASSWORD, District, bearer, id_number, seed, warning


def login(env: Env, username: str) -> TestClient:
    client = TestClient(env.app, base_url="http://testserver")
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD, "next": "/"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    return client


def csrf(page: str) -> str:
    match = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page)
    assert match
    return match.group(1)


def with_password(env: Env, *usernames: str) -> None:
    with transaction(env.factory) as s:
        for name in usernames:
            add_user(
                s,
                env.rt,
                {
                    "username": name,
                    "display_name": name,
                    "role": _role(name),
                    "unit": "SL" if "leader" in name or "chief" in name else "SL-T1",
                    "password": PASSWORD,
                },
            )


def _role(name: str) -> str:
    return "chief" if "chief" in name else "duty_leader" if "leader" in name else "dissuader"


def test_pages_need_a_session(env: Env) -> None:
    seed(env)
    for path in ("/m", "/board", "/cases/1", "/stations/SL", "/dashboard"):
        r = env.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path


def test_login_lands_on_the_roles_home(env: Env) -> None:
    seed(env)
    r = env.client.post(
        "/login", data={"username": "sl-d1", "password": PASSWORD, "next": "/"}, follow_redirects=False
    )
    assert r.headers["location"] == "/m"
    r = env.client.post(
        "/login", data={"username": "centre", "password": PASSWORD, "next": "/"}, follow_redirects=False
    )
    assert r.headers["location"] == "/board"
    bad = env.client.post("/login", data={"username": "centre", "password": "nope", "next": "/"})
    assert bad.status_code == 401 and "用户名或密码错误" in bad.text


def test_cookie_posts_need_the_csrf_token(env: Env) -> None:
    district = seed(env)
    case_id = open_case(env, district, "low")
    client = login(env, "sl-d1")
    page = client.get(f"/cases/{case_id}").text
    no_token = client.post(f"/ui/cases/{case_id}/steps", data={"kind": "sign"})
    assert no_token.status_code == 403
    api_no_token = client.post(f"/api/v1/cases/{case_id}/steps", json={"kind": "sign"})
    assert api_no_token.status_code == 403  # the API accepts the cookie too, so it checks as well
    ok = client.post(
        f"/ui/cases/{case_id}/steps", data={"kind": "sign"}, headers={"X-CSRF-Token": csrf(page)}
    )
    assert ok.status_code == 200 and "处置中" in ok.text


def test_descriptions_render_as_text(env: Env) -> None:
    district = seed(env)
    attack = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    body = warning("XSS-1", description=attack)
    case_id = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token)).json()[
        "case_id"
    ]
    page = login(env, "centre").get(f"/cases/{case_id}").text
    assert attack not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_task_list_shows_my_open_cases_most_urgent_first(env: Env) -> None:
    district = seed(env)
    low = open_case(env, district, "low")
    high = env.client.post(
        "/api/v1/warnings",
        json=warning(
            "H-1",
            risk_level="extreme",
            target={
                "address": "江苏省苏州市吴江区松陵街道流虹路1号",
                "id_number": id_number("19900101", "555"),
                "phone": "13962510009",
            },
        ),
        headers=bearer(district.feed_token),
    ).json()["case_id"]
    page = login(env, "sl-d1").get("/m/list").text
    order = [int(x) for x in re.findall(r'data-case="(\d+)"', page)]
    assert order == [high, low]


def _shift_form(page: str) -> dict[str, Any]:
    return {"X-CSRF-Token": csrf(page)}


def test_duty_leader_edits_the_roster_and_dissuaders_cannot(env: Env) -> None:
    seed(env)
    with_password(env, "sl-leader-day")
    leader = login(env, "sl-leader-day")
    page = leader.get("/stations/SL").text
    assert "值班表" in page and "劝阻员甲" in page
    r = leader.post(
        "/ui/stations/SL/shifts",
        headers=_shift_form(page),
        data={
            "user": "sl-d3",
            "position": "member",
            "starts_at": "2026-11-29T08:00",
            "ends_at": "2026-11-29T20:00",
        },
    )
    assert r.status_code == 200, r.text
    assert "11-29 08:00" in r.text
    bad = leader.post(
        "/ui/stations/SL/shifts",
        headers=_shift_form(page),
        data={
            "user": "sz-d1",
            "position": "member",
            "starts_at": "2026-11-29T08:00",
            "ends_at": "2026-11-29T20:00",
        },
    )
    assert bad.status_code == 422 and "sz-d1" in bad.text
    officer = login(env, "sl-d1")
    page = officer.get("/stations/SL").text
    denied = officer.post(
        "/ui/stations/SL/shifts",
        headers=_shift_form(page),
        data={
            "user": "sl-d3",
            "position": "member",
            "starts_at": "2026-11-30T08:00",
            "ends_at": "2026-11-30T20:00",
        },
    )
    assert denied.status_code == 403
    assert officer.get("/stations/SZ").status_code == 404  # another station's page does not exist for them


def test_dashboard_counts_a_dissuaded_case(env: Env) -> None:
    district: District = seed(env)
    case_id = open_case(env, district, "medium")
    me = district.tokens["sl-d1"]
    move(env, me, case_id, "steps", {"kind": "sign"})
    move(env, me, case_id, "steps", {"kind": "phone", "outcome": "dissuaded"})
    move(
        env,
        me,
        case_id,
        "close",
        {"outcome": "dissuaded", "amount_protected": "12345.00", "reverse_check": REVERSE},
    )
    env.clock.advance(timedelta(minutes=1))  # the default period runs up to now, exclusive
    page = login(env, "centre").get("/dashboard").text
    assert re.search(r'id="kpi-dissuaded">1<', page)
    assert re.search(r'id="kpi-money-protected">12,345.00<', page)
    assert "松陵派出所" in page  # in the station ranking


def test_dashboard_explains_a_bad_period(env: Env) -> None:
    seed(env)
    r = login(env, "centre").get("/dashboard?from=yesterday")
    assert r.status_code == 422 and "from" in r.text
