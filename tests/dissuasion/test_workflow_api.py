"""The workflow API end to end over HTTP, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from quanzu.models.audit import AuditEntry
from tests.conftest import Env
from tests.factories import District, bearer, id_number, seed, warning

SL = {
    "address": "江苏省苏州市吴江区松陵街道流虹路88号",
    "id_number": id_number("19660606", "111"),
    "phone": "13962510001",
}
REVERSE = [
    {"kind": "phone", "value": "+852 5123 4567"},
    {"kind": "url", "value": "https://fake-invest.example/app"},
]


def open_case(env: Env, district: District, risk: str = "high", **target: Any) -> int:
    body = warning(f"W-{risk}-{len(target)}", risk_level=risk, target={**SL, **target})
    r = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token))
    assert r.status_code == 201, r.text
    case_id: int = r.json()["case_id"]
    return case_id


def move(env: Env, token: str, case_id: int, path: str, body: dict[str, Any] | None = None) -> Any:
    return env.client.post(f"/api/v1/cases/{case_id}/{path}", json=body or {}, headers=bearer(token))


def test_a_case_walks_the_prescribed_steps_to_dissuaded(env: Env) -> None:
    district = seed(env)
    case = open_case(env, district, "high")
    me = district.tokens["sl-d1"]
    signed = move(env, me, case, "steps", {"kind": "sign"})
    assert signed.status_code == 200, signed.text
    assert signed.json()["state"] == "in_progress"
    assert move(env, me, case, "steps", {"kind": "phone", "outcome": "no_answer"}).status_code == 200
    assert (
        move(env, me, case, "steps", {"kind": "onsite_search", "note": "出发上门"}).json()["state"]
        == "in_progress"
    )
    assert (
        move(
            env, me, case, "steps", {"kind": "analysis", "outcome": "located", "note": "轨迹在家"}
        ).status_code
        == 200
    )
    assert move(env, me, case, "steps", {"kind": "onsite_search", "outcome": "found"}).status_code == 200
    assert move(env, me, case, "steps", {"kind": "verify_identity", "outcome": "verified"}).status_code == 200
    assert move(env, me, case, "steps", {"kind": "face_to_face", "outcome": "dissuaded"}).status_code == 200
    closed = move(
        env,
        me,
        case,
        "close",
        {
            "outcome": "dissuaded",
            "amount_protected": "50000.00",
            "reverse_check": REVERSE,
            "note": "已劝阻，卸载APP",
        },
    )
    assert closed.status_code == 200, closed.text
    detail = closed.json()
    assert detail["state"] == "closed" and detail["outcome"] == "dissuaded"
    assert detail["amount_protected"] == "50000.00"
    assert [s["kind"] for s in detail["steps"]] == [
        "sign",
        "phone",
        "onsite_search",
        "analysis",
        "verify_identity",
        "face_to_face",
        "feedback",
    ]
    onsite = next(s for s in detail["steps"] if s["kind"] == "onsite_search")
    assert onsite["outcome"] == "found" and onsite["note"] == "出发上门"  # one record: started, then done
    assert detail["reverse_check"] == [
        {"kind": "phone", "value": "+85251234567", "note": ""},
        {"kind": "url", "value": "https://fake-invest.example/app", "note": ""},
    ]
    sla = {c["kind"]: c["status"] for c in detail["sla"]}
    assert sla == {"sign": "met", "first_contact": "met", "face_to_face": "met", "feedback": "met"}
    with env.reader() as s:
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.subject_id == str(case))).all())
    assert {"case.step.sign", "case.step.face_to_face", "case.closed"} <= actions


def test_low_risk_false_alarm_closes_after_a_successful_call(env: Env) -> None:
    district = seed(env)
    case = open_case(env, district, "low")
    me = district.tokens["sl-d2"]
    move(env, me, case, "steps", {"kind": "sign"})
    move(env, me, case, "steps", {"kind": "phone", "outcome": "answered", "note": "本人称系正常投资"})
    r = move(env, me, case, "close", {"outcome": "not_fraud"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "closed"


def test_close_rules_name_what_is_missing(env: Env) -> None:
    district = seed(env)
    case = open_case(env, district, "high")
    me = district.tokens["sl-d1"]
    move(env, me, case, "steps", {"kind": "sign"})
    move(env, me, case, "steps", {"kind": "phone", "outcome": "dissuaded"})
    r = move(
        env, me, case, "close", {"outcome": "dissuaded", "amount_protected": "1000", "reverse_check": REVERSE}
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "outcome", "message": "step face_to_face not done"}]
    r = move(env, me, case, "close", {"outcome": "lost", "amount_lost": "2000"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "reverse_check"
    assert env.client.get(f"/api/v1/cases/{case}", headers=bearer(me)).json()["state"] == "in_progress"


@pytest.mark.parametrize(
    ("path", "body", "state_named"),
    [
        ("steps", {"kind": "phone", "outcome": "answered"}, "dispatched"),
        ("close", {"outcome": "not_fraud"}, "dispatched"),
    ],
)
def test_illegal_moves_before_signing(env: Env, path: str, body: dict[str, Any], state_named: str) -> None:
    district = seed(env)
    case = open_case(env, district)
    r = move(env, district.tokens["sl-d1"], case, path, body)
    assert r.status_code == 409
    assert f"a case that is {state_named}" in r.json()["message"]


def test_signing_twice_and_moving_a_closed_case_are_409(env: Env) -> None:
    district = seed(env)
    case = open_case(env, district, "low")
    me = district.tokens["sl-d1"]
    move(env, me, case, "steps", {"kind": "sign"})
    again = move(env, me, case, "steps", {"kind": "sign"})
    assert again.status_code == 409 and "in_progress" in again.json()["message"]
    move(env, me, case, "steps", {"kind": "phone", "outcome": "answered"})
    move(env, me, case, "close", {"outcome": "not_fraud"})
    for path, body in [
        ("steps", {"kind": "phone", "outcome": "answered"}),
        ("close", {"outcome": "not_fraud"}),
        ("escalate", {"reason": "x"}),
        ("assign", {"user": "sl-d2"}),
    ]:
        r = move(env, district.tokens["sl-leader-day"], case, path, body)
        assert r.status_code == 409, (path, r.text)
        assert "closed" in r.json()["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("steps", {"kind": "phone", "outcome": "found"}, "outcome"),
        ("steps", {"kind": "teleport"}, "kind"),
        ("steps", {"kind": "sign", "outcome": "answered"}, "outcome"),
        ("steps", {"kind": "phone", "note": "长" * 2001}, "note"),
        ("close", {"outcome": "dissuaded"}, "amount_protected"),
        ("close", {"outcome": "lost", "amount_lost": "0"}, "amount_lost"),
        ("close", {"outcome": "not_fraud", "amount_lost": "5"}, "amount_lost"),
        ("close", {"outcome": "won"}, "outcome"),
        (
            "close",
            {"outcome": "not_fraud", "reverse_check": [{"kind": "qq", "value": "12"}]},
            "reverse_check.0.value",
        ),
        (
            "close",
            {"outcome": "not_fraud", "reverse_check": [{"kind": "url", "value": "ftp://x"}]},
            "reverse_check.0.value",
        ),
        (
            "close",
            {"outcome": "not_fraud", "reverse_check": [{"kind": "bank_account", "value": "12ab"}]},
            "reverse_check.0.value",
        ),
        (
            "close",
            {"outcome": "not_fraud", "reverse_check": [{"kind": "phone", "value": "12"}]},
            "reverse_check.0.value",
        ),
        ("escalate", {"reason": ""}, "reason"),
        ("assign", {}, "user"),
    ],
)
def test_invalid_bodies_name_the_field(env: Env, path: str, body: dict[str, Any], field: str) -> None:
    district = seed(env)
    case = open_case(env, district, "low")
    r = move(env, district.tokens["sl-leader-day"], case, path, body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


def test_other_stations_and_read_only_roles_cannot_move_a_case(env: Env) -> None:
    district = seed(env)
    case = open_case(env, district)
    assert move(env, district.tokens["sz-d1"], case, "steps", {"kind": "sign"}).status_code == 404
    assert move(env, district.tokens["auditor"], case, "steps", {"kind": "sign"}).status_code == 403
    assert move(env, district.feed_token, case, "steps", {"kind": "sign"}).status_code == 403


def test_assign_within_the_station_only(env: Env) -> None:
    district = seed(env)
    case = open_case(env, district)
    leader = district.tokens["sl-leader-day"]
    r = move(env, leader, case, "assign", {"user": "sl-d3"})
    assert r.status_code == 200
    assert "sl-d3" in {a["username"] for a in r.json()["assignees"]}
    outsider = move(env, leader, case, "assign", {"user": "sz-d1"})
    assert outsider.status_code == 422 and outsider.json()["errors"][0]["field"] == "user"
    assert move(env, district.tokens["sl-d1"], case, "assign", {"user": "sl-d3"}).status_code == 403


def test_centre_routes_a_triage_case_to_a_station(env: Env) -> None:
    district = seed(env)
    body = warning(
        "T-1",
        target={
            "address": "浙江省杭州市西湖区文三路90号",
            "phone": "13805710000",
            "id_number": id_number("19550505", "321"),
        },
    )
    case = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token)).json()[
        "case_id"
    ]
    assert move(env, district.tokens["sl-chief"], case, "route", {"station": "SZ"}).status_code == 403
    bad = move(env, district.tokens["centre"], case, "route", {"station": "NOPE"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "station"
    r = move(env, district.tokens["centre"], case, "route", {"station": "SZ", "note": "受害人在盛泽工作"})
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["state"] == "dispatched" and detail["station"]["code"] == "SZ"
    assert detail["routing"]["method"] == "manual"
    assert {a["username"] for a in detail["assignees"]} == {"sz-leader", "sz-d1"}
    assert (
        env.client.get(f"/api/v1/cases/{case}", headers=bearer(district.tokens["sz-d1"])).status_code == 200
    )


def test_centre_moves_a_case_across_stations_and_the_old_team_loses_it(env: Env) -> None:
    district = seed(env)
    case = open_case(env, district)
    r = move(env, district.tokens["centre"], case, "route", {"station": "SZ"})
    assert r.status_code == 200
    active = {a["username"] for a in r.json()["assignees"] if a["released_at"] is None}
    assert active == {"sz-leader", "sz-d1"}
    assert (
        env.client.get(f"/api/v1/cases/{case}", headers=bearer(district.tokens["sl-d1"])).status_code == 404
    )


def test_a_moved_case_takes_its_follow_up_callbacks_along(env: Env) -> None:
    """The callbacks keep their case's station (the briefing counts them by it): a move to another
    station moves them all, the recorded one too, in the same transaction."""
    # Imported here: tests.followups imports this module's helpers at its top.
    from tests.followups.test_followups import callback_stations, met_and_closed, plan, record

    district = seed(env)
    me = district.tokens["sl-d1"]
    case = met_and_closed(env, district, "high", close=False)
    first = plan(env, me, case)["callbacks"][0]
    assert record(env, me, case, first["callback_id"], reached=True).status_code == 200
    assert callback_stations(env, case) == ["SL"] * 4
    assert move(env, district.tokens["centre"], case, "route", {"station": "SZ"}).status_code == 200
    assert callback_stations(env, case) == ["SZ"] * 4
    assert move(env, district.tokens["centre"], case, "route", {"station": "SL"}).status_code == 200
    assert callback_stations(env, case) == ["SL"] * 4


def test_triage_false_alarm_closed_by_the_centre_only(env: Env) -> None:
    district = seed(env)
    body = warning(
        "T-2",
        target={
            "address": "浙江省杭州市西湖区文三路90号",
            "phone": "13805710000",
            "id_number": id_number("19550505", "321"),
        },
    )
    case = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token)).json()[
        "case_id"
    ]
    wrong = move(env, district.tokens["centre"], case, "close", {"outcome": "unreachable"})
    assert wrong.status_code == 409
    r = move(env, district.tokens["centre"], case, "close", {"outcome": "not_fraud", "note": "重复推送"})
    assert r.status_code == 200 and r.json()["state"] == "closed"


def test_branch_takes_over_and_co_handles(env: Env) -> None:
    district = seed(env)
    case = open_case(env, district)
    assert move(env, district.tokens["sl-chief"], case, "takeover", {}).status_code == 403
    r = move(env, district.tokens["b1-squad"], case, "takeover", {"mode": "takeover", "note": "深度受骗"})
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["handling"] == {"code": "B1", "name": "城区分局劝阻中队"}
    assert detail["handling_mode"] == "takeover" and detail["tier"] == 2
    assert "b1-squad" in {a["username"] for a in detail["assignees"]}
    # The squadron now works the case like the station does.
    assert move(env, district.tokens["b1-squad"], case, "steps", {"kind": "sign"}).status_code == 200
