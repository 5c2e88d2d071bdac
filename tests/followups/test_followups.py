"""Follow-up plans, callbacks on a fake clock, reopening on a warning sign, merging a new warning
into a case under follow-up, the awakening room and the protective checklist — over HTTP on
both databases, with the real timer worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from quanzu.followups.service import follow_up_status
from quanzu.models.audit import AuditEntry
from quanzu.models.cases import CaseEvent
from quanzu.models.dispatch import Notification
from quanzu.models.followups import FollowUpCallback
from quanzu.models.org import OrgUnit, User
from quanzu.models.timers import Timer
from quanzu.worker.runner import Worker
from tests.conftest import Env
from tests.dissuasion.test_workflow_api import REVERSE, SL, move, open_case
from tests.factories import District, bearer, id_number, seed, warning


def fire(env: Env) -> int:
    worker: Worker = env.app.state.worker
    return worker.fire_timers()


def met_and_closed(env: Env, district: District, risk: str = "high", *, close: bool = True) -> int:
    """A case whose target was met (the plan starts then) and, by default, closed as dissuaded."""
    cid = open_case(env, district, risk)
    me = district.tokens["sl-d1"]
    for step in (
        {"kind": "sign"},
        {"kind": "phone", "outcome": "answered"},
        {"kind": "analysis", "outcome": "located"},
        {"kind": "face_to_face", "outcome": "dissuaded"},
    ):
        assert move(env, me, cid, "steps", step).status_code == 200
    if close:
        body = {"outcome": "dissuaded", "amount_protected": "50000.00", "reverse_check": REVERSE}
        r = move(env, me, cid, "close", body)
        assert r.status_code == 200, r.text
    return cid


def plan(env: Env, token: str, cid: int) -> Any:
    r = env.client.get(f"/api/v1/cases/{cid}/followups", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()["plan"]


def record(env: Env, token: str, cid: int, callback_id: int, **body: Any) -> Any:
    return env.client.post(f"/api/v1/cases/{cid}/followups/{callback_id}", json=body, headers=bearer(token))


def notified(env: Env, cid: int, kind: str) -> set[str]:
    with env.reader() as s:
        rows = s.scalars(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.case_id == cid, Notification.kind == kind)
        ).all()
    return set(rows)


def events(env: Env, cid: int, kind: str) -> list[CaseEvent]:
    with env.reader() as s:
        return list(
            s.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == cid, CaseEvent.kind == kind)
                .order_by(CaseEvent.id)
            )
        )


def test_the_first_meeting_creates_the_plan_of_its_tier(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "high", close=False)
    p = plan(env, district.tokens["sl-d1"], cid)
    assert p["risk_level"] == "high" and p["trigger"] == "face_to_face" and p["officer"] == "劝阻员甲"
    assert [c["day"] for c in p["callbacks"]] == [3, 7, 14, 28]
    assert {c["status"] for c in p["callbacks"]} == {"planned"}
    met = datetime.fromisoformat(p["started_at"])
    assert [datetime.fromisoformat(c["due_at"]) for c in p["callbacks"]] == [
        met + timedelta(days=d) for d in (3, 7, 14, 28)
    ]
    # A second meeting does not plan again.
    move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "face_to_face", "outcome": "dissuaded"})
    assert len(plan(env, district.tokens["sl-d1"], cid)["callbacks"]) == 4
    assert len(events(env, cid, "followup_planned")) == 1
    with env.reader() as s:
        kinds = s.scalars(select(Timer.kind).where(Timer.kind.like("followup_%"))).all()
    assert sorted(kinds) == ["followup_overdue"] * 4 + ["followup_remind"] * 4


def callback_stations(env: Env, cid: int) -> list[str]:
    """The station code each of the case's callbacks carries, in order."""
    with env.reader() as s:
        rows = s.scalars(
            select(OrgUnit.code)
            .join(FollowUpCallback, FollowUpCallback.station_id == OrgUnit.id)
            .where(FollowUpCallback.case_id == cid)
            .order_by(FollowUpCallback.seq)
        ).all()
    return list(rows)


def test_the_callbacks_carry_the_case_s_station(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "high", close=False)
    assert callback_stations(env, cid) == ["SL"] * 4


def test_extreme_gets_six_callbacks(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "extreme", close=False)
    assert [c["day"] for c in plan(env, district.tokens["sl-d1"], cid)["callbacks"]] == [1, 3, 7, 14, 21, 28]


def test_a_dissuading_call_starts_a_plan_only_where_the_policy_says(env: Env) -> None:
    district = seed(env)
    me = district.tokens["sl-d1"]
    medium = open_case(env, district, "medium")
    move(env, me, medium, "steps", {"kind": "sign"})
    move(env, me, medium, "steps", {"kind": "phone", "outcome": "dissuaded"})
    p = plan(env, me, medium)
    assert p["trigger"] == "phone" and [c["day"] for c in p["callbacks"]] == [7, 28]

    high = open_case(env, district, "high", id_number=id_number("19700101", "222"), phone="13962510002")
    move(env, me, high, "steps", {"kind": "sign"})
    move(env, me, high, "steps", {"kind": "phone", "outcome": "dissuaded"})
    assert plan(env, me, high) is None


def test_a_callback_is_reminded_then_overdue_then_escalated_to_the_station(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "high")
    first = plan(env, district.tokens["sl-d1"], cid)["callbacks"][0]
    due = datetime.fromisoformat(first["due_at"])
    overdue = datetime.fromisoformat(first["overdue_at"])
    assert overdue == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)  # 1 Dec ends in Suzhou, + 2 h

    env.clock.set(due - timedelta(hours=2, seconds=1))
    fire(env)
    assert notified(env, cid, "followup.due") == set()
    env.clock.set(due - timedelta(hours=2))
    fire(env)
    assert notified(env, cid, "followup.due") == {"sl-d1"}  # the officer who held the meeting

    env.clock.set(due)
    r = env.client.get("/api/v1/followups/due", headers=bearer(district.tokens["sl-d2"]))
    assert r.status_code == 200
    assert [(d["case_id"], d["day"], d["status"], d["reminded"]) for d in r.json()] == [(cid, 3, "due", True)]
    assert "张" in r.json()[0]["target"] and "13962510001" not in r.text  # masked
    # Another station sees nothing of it; the centre and the branch do.
    assert env.client.get("/api/v1/followups/due", headers=bearer(district.tokens["sz-d1"])).json() == []
    for who in ("centre", "b1-squad"):
        got = env.client.get("/api/v1/followups/due", headers=bearer(district.tokens[who])).json()
        assert [d["callback_id"] for d in got] == [first["callback_id"]]

    env.clock.set(overdue - timedelta(seconds=1))
    fire(env)
    assert events(env, cid, "followup_overdue") == []
    env.clock.set(overdue)
    fire(env)
    assert len(events(env, cid, "followup_overdue")) == 1
    # The case is closed: the station answers for it (officer, duty leaders, chief), no ladder.
    assert notified(env, cid, "followup.overdue") == {"sl-d1", "sl-chief", "sl-leader-day", "sl-leader-night"}
    assert events(env, cid, "escalated") == []
    p = plan(env, district.tokens["sl-d1"], cid)
    assert p["status"] == "behind" and p["callbacks"][0]["status"] == "overdue"
    with env.reader() as s:
        assert follow_up_status(s, cid, env.clock.now()) == "behind"
        assert follow_up_status(s, cid + 999, env.clock.now()) is None
    # Recorded late, the plan is back on track, and the stale timers of that callback do nothing.
    assert record(env, district.tokens["sl-d1"], cid, first["callback_id"], reached=True).status_code == 200
    with env.reader() as s:
        assert follow_up_status(s, cid, env.clock.now()) == "on_track"


def test_an_overdue_callback_on_an_open_case_climbs_the_ladder(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "high", close=False)  # met, never closed
    first = plan(env, district.tokens["sl-d1"], cid)["callbacks"][0]
    overdue = datetime.fromisoformat(first["overdue_at"])
    env.clock.set(overdue - timedelta(minutes=1))
    fire(env)  # the feedback deadline passed long ago: that climb starts first
    assert [e.data["reason"] for e in events(env, cid, "escalated")] == ["平台反馈超时"]
    assert move(env, district.tokens["sl-chief"], cid, "acknowledge").status_code == 200
    env.clock.set(overdue)
    fire(env)
    assert len(events(env, cid, "followup_overdue")) == 1
    assert [e.data["reason"] for e in events(env, cid, "escalated")] == ["平台反馈超时", "第1次回访逾期"]


def test_a_recorded_callback_makes_its_timers_stale(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "medium")
    first = plan(env, district.tokens["sl-d1"], cid)["callbacks"][0]
    r = record(env, district.tokens["sl-d2"], cid, first["callback_id"], reached=False, note="关机")
    assert r.status_code == 200, r.text
    assert r.json()["plan"]["callbacks"][0]["status"] == "not_reached"
    assert record(env, district.tokens["sl-d2"], cid, first["callback_id"], reached=True).status_code == 409
    env.clock.set(datetime.fromisoformat(first["overdue_at"]) + timedelta(minutes=1))
    fire(env)
    assert notified(env, cid, "followup.due") == set() and events(env, cid, "followup_overdue") == []
    with env.reader() as s:
        outcomes = s.scalars(
            select(Timer.outcome).where(
                Timer.kind.like("followup_%"), Timer.subject_id == first["callback_id"]
            )
        ).all()
    assert outcomes == ["stale", "stale"]


def test_a_warning_sign_reopens_the_case_raises_its_risk_and_realerts(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "high")
    first = plan(env, district.tokens["sl-d1"], cid)["callbacks"][0]
    env.clock.set(datetime.fromisoformat(first["due_at"]))
    r = record(
        env,
        district.tokens["sl-d1"],
        cid,
        first["callback_id"],
        reached=True,
        warning_signs=["renewed_contact", "new_app"],
        note="又加了“导师”微信",
    )
    assert r.status_code == 200, r.text
    detail = env.client.get(f"/api/v1/cases/{cid}", headers=bearer(district.tokens["sl-d1"])).json()
    assert detail["state"] == "in_progress" and detail["outcome"] is None
    assert detail["risk_level"] == "extreme"
    sla = {c["kind"]: c for c in detail["sla"]}
    assert sla["first_contact"]["status"] == "met"  # the officer spoke with them on the callback
    assert sla["feedback"]["status"] == "pending"
    assert datetime.fromisoformat(sla["feedback"]["due_at"]) == env.clock.now() + timedelta(hours=24)
    (reopened,) = events(env, cid, "reopened")
    assert reopened.data["previous_outcome"] == "dissuaded" and reopened.data["previous_risk"] == "high"
    assert {"sl-d1", "sl-chief"} <= notified(env, cid, "case.reopened")
    with env.reader() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.subject_id == str(cid))).all()
    assert "case.reopened" in actions and "followup.recorded" in actions
    # Reopened, it can be worked and closed again; the plan keeps running.
    body = {"outcome": "dissuaded", "amount_protected": "50000.00", "reverse_check": REVERSE}
    move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "face_to_face", "outcome": "dissuaded"})
    assert move(env, district.tokens["sl-d1"], cid, "close", body).status_code == 200
    assert plan(env, district.tokens["sl-d1"], cid)["ended_at"] is None


def test_a_new_warning_merges_into_the_case_under_follow_up_and_reopens_it(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "medium")
    env.clock.advance(timedelta(days=2))
    body = warning("W-again", risk_level="medium", target=SL)
    r = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token))
    assert r.status_code == 200, r.text
    assert r.json()["case_id"] == cid and r.json()["merged"] is True
    detail = env.client.get(f"/api/v1/cases/{cid}", headers=bearer(district.tokens["sl-d1"])).json()
    assert detail["state"] == "in_progress" and detail["risk_level"] == "high" and detail["signal_count"] == 2
    assert len(events(env, cid, "reopened")) == 1 and len(events(env, cid, "signal_merged")) == 1


def test_a_new_warning_after_the_plan_ended_opens_a_new_case(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "low")
    (only,) = plan(env, district.tokens["sl-d1"], cid)["callbacks"]
    assert record(env, district.tokens["sl-d1"], cid, only["callback_id"], reached=True).status_code == 200
    assert plan(env, district.tokens["sl-d1"], cid)["status"] == "completed"
    r = env.client.post(
        "/api/v1/warnings", json=warning("W-later", target=SL), headers=bearer(district.feed_token)
    )
    assert r.status_code == 201 and r.json()["case_id"] != cid


def test_callbacks_are_scoped_validated_and_role_checked(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "high")
    cb = plan(env, district.tokens["sl-d1"], cid)["callbacks"][0]["callback_id"]
    other = district.tokens["sz-d1"]
    assert env.client.get(f"/api/v1/cases/{cid}/followups", headers=bearer(other)).status_code == 404
    assert record(env, other, cid, cb, reached=True).status_code == 404
    r = record(env, district.tokens["sl-d1"], cid, cb, reached=True, warning_signs=["aliens"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "warning_signs"
    r = record(env, district.tokens["sl-d1"], cid, cb)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reached"
    assert record(env, district.tokens["auditor"], cid, cb, reached=True).status_code == 403
    assert record(env, district.tokens["sl-d1"], cid, cb + 999, reached=True).status_code == 404


def test_awakening_room_sessions_are_scheduled_and_recorded(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "high", close=False)
    me = district.tokens["sl-d1"]
    body = {
        "room": "松陵所叫醒室",
        "at": "2026-11-29T09:00:00+08:00",
        "planned_attendees": ["劝阻员甲", "本人"],
    }
    r = env.client.post(f"/api/v1/cases/{cid}/awakening", json=body, headers=bearer(me))
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    assert r.json()["station"] == "松陵派出所" and r.json()["state"] == "scheduled"
    bad = env.client.post(
        f"/api/v1/cases/{cid}/awakening", json={**body, "station": "NOPE"}, headers=bearer(me)
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "station"
    rec = {
        "attended": ["劝阻员甲", "本人"],
        "materials": ["同类案例视频", "本人聊天记录"],
        "relatives_present": ["女儿"],
        "outcome": "awakened",
    }
    r = env.client.post(f"/api/v1/cases/{cid}/awakening/{sid}", json=rec, headers=bearer(me))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "held" and r.json()["relatives_present"] == ["女儿"]
    again = env.client.post(f"/api/v1/cases/{cid}/awakening/{sid}", json=rec, headers=bearer(me))
    assert again.status_code == 409
    r = env.client.post(
        f"/api/v1/cases/{cid}/awakening/{sid}", json={**rec, "outcome": "x"}, headers=bearer(me)
    )
    assert r.status_code in (409, 422)
    listed = env.client.get(
        f"/api/v1/cases/{cid}/awakening", headers=bearer(district.tokens["centre"])
    ).json()
    assert [s["outcome"] for s in listed] == ["awakened"]
    assert [e.data["session_id"] for e in events(env, cid, "awakening_held")] == [sid]
    assert (
        env.client.get(f"/api/v1/cases/{cid}/awakening", headers=bearer(district.tokens["sz-d1"])).status_code
        == 404
    )


def test_the_protective_checklist(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "high", close=False)
    me = district.tokens["sl-d1"]
    url = f"/api/v1/cases/{cid}/protective-actions"
    items = env.client.get(url, headers=bearer(me)).json()["items"]
    assert [i["code"] for i in items] == [
        "apps_removed",
        "phone_scanned",
        "second_phone_found",
        "bank_watch_requested",
        "relatives_informed",
        "contact_reported",
    ]
    assert not any(i["done"] for i in items) and items[1]["label"] == "手机已查杀"
    body = {"items": [{"code": "phone_scanned", "done": True, "note": "国家反诈中心APP查杀"}]}
    r = env.client.put(url, json=body, headers=bearer(me))
    assert r.status_code == 200, r.text
    scanned = {i["code"]: i for i in r.json()["items"]}["phone_scanned"]
    assert scanned["done"] and scanned["done_by"].endswith(":sl-d1") and scanned["note"]
    r = env.client.put(url, json={"items": [{"code": "phone_scanned", "done": False}]}, headers=bearer(me))
    assert {i["code"]: i for i in r.json()["items"]}["phone_scanned"]["done_by"] is None
    bad = env.client.put(url, json={"items": [{"code": "nope", "done": True}]}, headers=bearer(me))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "items.0.code"
    assert env.client.put(url, json=body, headers=bearer(district.tokens["sz-d1"])).status_code == 404
    assert len(events(env, cid, "protective_actions")) == 2


def test_the_case_page_panel_and_the_due_page_render(env: Env) -> None:
    district = seed(env)
    cid = met_and_closed(env, district, "high")
    me = bearer(district.tokens["sl-d1"])
    panel = env.client.get(f"/ui/cases/{cid}/followups", headers=me)
    assert panel.status_code == 200 and "回访" in panel.text and "手机已查杀" in panel.text
    first = plan(env, district.tokens["sl-d1"], cid)["callbacks"][0]
    env.clock.set(datetime.fromisoformat(first["due_at"]))
    page = env.client.get("/followups", headers=me)
    assert page.status_code == 200 and f"#{cid}" in page.text
