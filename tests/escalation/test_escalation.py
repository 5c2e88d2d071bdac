"""SLA clocks, the three-tier ladder, acknowledgement, manual escalation and shift handover —
driven by a FakeClock and the real timer worker, never by sleeping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from quanzu.kit.db import transaction
from quanzu.models.cases import CaseEvent
from quanzu.models.dispatch import Notification
from quanzu.models.org import DutyShift, User
from quanzu.models.timers import Timer
from quanzu.worker.runner import Worker
from tests.conftest import Env
from tests.dissuasion.test_workflow_api import SL, move, open_case
from tests.factories import bearer, id_number, seed, statements_sent, warning

POLICY_HIGH = {"sign": 5 * 60, "wait": 5 * 60}  # the shipped policy for high risk: sign ≤ 5 min, 5 min a rung


def fire(env: Env) -> int:
    worker: Worker = env.app.state.worker
    return worker.fire_timers()


def escalated_to(env: Env, case_id: int) -> list[tuple[int, set[str]]]:
    """Each climb's tier and the people it notified, in order."""
    with env.reader() as s:
        events = s.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.kind == "escalated")
            .order_by(CaseEvent.id)
        ).all()
        notes = s.execute(
            select(Notification.created_at, User.username)
            .join(User, User.id == Notification.user_id)
            .where(Notification.case_id == case_id, Notification.kind == "case.escalated")
        ).all()
    out = []
    for e in events:
        out.append((int(e.data["tier"]), {u for at, u in notes if at == e.at}))
    return out


def case(env: Env, token: str, case_id: int) -> Any:
    return env.client.get(f"/api/v1/cases/{case_id}", headers=bearer(token)).json()


def test_an_unsigned_case_climbs_every_rung_of_the_ladder(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    assert fire(env) == 1  # at once: the worker links the warning's fraudster contacts
    env.clock.advance(timedelta(seconds=POLICY_HIGH["sign"] - 1))
    assert fire(env) == 0  # one second before the deadline: nothing
    env.clock.advance(timedelta(seconds=1))
    assert fire(env) == 1
    assert escalated_to(env, cid) == [(1, {"sl-leader-day"})]
    detail = case(env, district.tokens["centre"], cid)
    assert detail["tier"] == 1 and detail["escalation"]["state"] == "climbing"
    assert {c["kind"]: c["status"] for c in detail["sla"]}["sign"] == "breached"
    for _ in range(3):
        env.clock.advance(timedelta(seconds=POLICY_HIGH["wait"]))
        fire(env)
    assert escalated_to(env, cid) == [
        (1, {"sl-leader-day"}),
        (1, {"sl-chief"}),
        (2, {"b1-squad"}),
        (3, {"centre", "sl-chief"}),  # the centre, and the station chief is told
    ]
    detail = case(env, district.tokens["centre"], cid)
    assert detail["tier"] == 3 and detail["escalation"]["state"] == "at_top"
    env.clock.advance(timedelta(hours=1))
    fire(env)
    assert len(escalated_to(env, cid)) == 4  # nothing above the top


def test_acknowledging_stops_the_climb(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    env.clock.advance(timedelta(seconds=POLICY_HIGH["sign"]))
    fire(env)
    env.clock.advance(timedelta(seconds=POLICY_HIGH["wait"]))
    fire(env)
    env.clock.advance(timedelta(seconds=POLICY_HIGH["wait"]))
    fire(env)
    assert [t for t, _ in escalated_to(env, cid)] == [1, 1, 2]
    # A dissuader cannot acknowledge for the branch; the squadron can.
    assert move(env, district.tokens["sl-d1"], cid, "acknowledge").status_code == 403
    r = move(env, district.tokens["b1-squad"], cid, "acknowledge")
    assert r.status_code == 200, r.text
    assert r.json()["escalation"]["state"] == "acknowledged"
    assert r.json()["escalation"]["acknowledged_by"].endswith(":b1-squad")
    env.clock.advance(timedelta(hours=2))
    fire(env)
    assert [t for t, _ in escalated_to(env, cid)] == [1, 1, 2]
    with env.reader() as s:
        outcomes = s.scalars(
            select(Timer.outcome).where(Timer.kind == "escalation", Timer.subject_id == cid)
        ).all()
    assert "stale" in outcomes  # the pending rung fired and did nothing
    assert (
        move(env, district.tokens["b1-squad"], cid, "acknowledge").status_code == 409
    )  # nothing to acknowledge


def test_signing_in_time_means_no_breach(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    env.clock.advance(timedelta(seconds=60))
    move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "sign"})
    move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "phone", "outcome": "answered"})
    env.clock.advance(timedelta(minutes=20))
    fire(env)
    assert escalated_to(env, cid) == []
    sla = {c["kind"]: c["status"] for c in case(env, district.tokens["sl-d1"], cid)["sla"]}
    assert sla["sign"] == "met" and sla["first_contact"] == "met" and sla["face_to_face"] == "pending"


def test_a_late_first_contact_breaches_even_after_signing(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "sign"})
    env.clock.advance(timedelta(minutes=15))
    fire(env)
    assert [t for t, _ in escalated_to(env, cid)] == [1]
    with env.reader() as s:
        breach = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == cid, CaseEvent.kind == "sla_breached")
        ).one()
    assert breach.data["sla"] == "first_contact"


def test_manual_escalation_goes_to_the_branch_at_once(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    r = move(env, district.tokens["sl-d1"], cid, "escalate", {"reason": "受害人深度受骗，拒不配合"})
    assert r.status_code == 200, r.text
    assert r.json()["tier"] == 2
    assert escalated_to(env, cid) == [(2, {"b1-squad"})]
    r = move(env, district.tokens["b1-squad"], cid, "escalate", {"reason": "金额巨大"})
    assert r.json()["tier"] == 3
    assert [t for t, _ in escalated_to(env, cid)] == [2, 3]


def test_manual_escalation_during_a_climb_jumps_the_rungs_below(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    env.clock.advance(timedelta(seconds=POLICY_HIGH["sign"]))
    fire(env)
    move(env, district.tokens["sl-leader-day"], cid, "escalate", {"reason": "拒不配合"})
    assert [t for t, _ in escalated_to(env, cid)] == [1, 2]
    env.clock.advance(timedelta(seconds=POLICY_HIGH["wait"]))
    fire(env)  # the old rung-2 timer (chief) is stale; the next rung after the branch is the centre
    assert [t for t, _ in escalated_to(env, cid)] == [1, 2, 3]


def test_the_ladder_is_frozen_when_the_climb_starts(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    env.clock.advance(timedelta(seconds=POLICY_HIGH["sign"]))
    fire(env)
    with transaction(env.factory) as s:  # the chief moves on mid-climb
        chief = s.scalars(select(User).where(User.username == "sl-chief")).one()
        chief.role = "dissuader"
    env.clock.advance(timedelta(seconds=POLICY_HIGH["wait"]))
    fire(env)
    assert escalated_to(env, cid)[1] == (1, {"sl-chief"})


def test_a_repeat_warning_with_higher_risk_tightens_the_deadlines(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "medium")  # sign within 10 min
    env.clock.advance(timedelta(minutes=1))
    again = warning("W-again", source="bank", risk_level="extreme", target=SL)
    assert env.client.post("/api/v1/warnings", json=again, headers=bearer(district.feed_token)).json()[
        "merged"
    ]
    env.clock.advance(timedelta(minutes=1))  # 2 min after opening: the extreme sign deadline
    fire(env)
    assert [t for t, _ in escalated_to(env, cid)] == [1]
    sla = {c["kind"]: c for c in case(env, district.tokens["sl-d1"], cid)["sla"]}
    assert "face_to_face" in sla  # extreme risk adds the on-site deadline


def test_a_repeat_warning_at_the_same_risk_leaves_the_deadlines_as_planned(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "medium")
    before = {c["kind"]: c["due_at"] for c in case(env, district.tokens["sl-d1"], cid)["sla"]}
    env.clock.advance(timedelta(minutes=1))
    again = warning("W-again", source="bank", risk_level="medium", target=SL)
    with statements_sent(env, lambda statement: "case_slas" in statement) as touching_clocks:
        response = env.client.post("/api/v1/warnings", json=again, headers=bearer(district.feed_token))
    assert response.json()["merged"]
    assert touching_clocks == []  # not even read: nothing to tighten
    after = {c["kind"]: c["due_at"] for c in case(env, district.tokens["sl-d1"], cid)["sla"]}
    assert after == before


def test_closing_stops_everything(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "low")
    me = district.tokens["sl-d1"]
    move(env, me, cid, "steps", {"kind": "sign"})
    move(env, me, cid, "steps", {"kind": "phone", "outcome": "answered"})
    move(env, me, cid, "close", {"outcome": "not_fraud"})
    env.clock.advance(timedelta(days=5))
    fire(env)
    assert escalated_to(env, cid) == []


def test_handover_at_shift_end(env: Env) -> None:
    district = seed(env)  # day shift 08–20: sl-leader-day, sl-d1, sl-d2; night: sl-leader-night, sl-d3
    cid = open_case(env, district, "low")
    move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "sign"})
    env.clock.advance(timedelta(hours=6))  # 20:00 in Suzhou
    assert fire(env) >= 1
    detail = case(env, district.tokens["sl-leader-night"], cid)
    active = {a["username"] for a in detail["assignees"] if a["released_at"] is None}
    assert active == {"sl-leader-night"}
    handover = [e for e in detail["timeline"] if e["kind"] == "handover"]
    assert len(handover) == 1 and "已下班" in handover[0]["data"]["note"]
    inbox = env.client.get("/api/v1/notifications", headers=bearer(district.tokens["sl-leader-night"])).json()
    assert any(n["kind"] == "case.handover" and n["case_id"] == cid for n in inbox)


def test_a_shift_change_hands_over_every_open_case_of_the_station_with_its_own_note(env: Env) -> None:
    """Three open cases signed by different day officers: each handed to the night leader, each
    note naming the officer who left that case (the assignees are read for all cases at once)."""
    district = seed(env)
    signers = ["sl-d1", "sl-d2", "sl-d1"]
    cases = []
    for n, signer in enumerate(signers):
        target = {**SL, "phone": f"1386252700{n}", "id_number": id_number(seq=f"70{n}")}
        body = warning(f"H-{n}", risk_level="low", target=target)
        posted = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token))
        assert posted.status_code == 201, posted.text
        cases.append(posted.json()["case_id"])
        move(env, district.tokens[signer], cases[-1], "steps", {"kind": "sign"})
    env.clock.advance(timedelta(hours=6))  # 20:00 in Suzhou
    fire(env)
    for cid in cases:
        detail = case(env, district.tokens["sl-leader-night"], cid)
        assert {a["username"] for a in detail["assignees"] if a["released_at"] is None} == {"sl-leader-night"}
        [handover] = [e for e in detail["timeline"] if e["kind"] == "handover"]
        leaving = {a["display_name"] for a in detail["assignees"] if a["released_at"] is not None}
        assert all(name in handover["data"]["note"] for name in leaving) and leaving


def test_handover_keeps_an_assignee_who_is_still_on_duty(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "low")
    with transaction(env.factory) as s:  # sl-d1 works a double shift
        d1 = s.scalars(select(User).where(User.username == "sl-d1")).one()
        night = s.scalars(
            select(DutyShift)
            .where(DutyShift.position == "leader", DutyShift.user_id != d1.id)
            .order_by(DutyShift.starts_at.desc())
        ).first()
        assert night is not None
        s.add(
            DutyShift(
                station_id=night.station_id,
                user_id=d1.id,
                position="member",
                starts_at=night.starts_at,
                ends_at=night.ends_at,
            )
        )
    move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "sign"})
    env.clock.advance(timedelta(hours=6))
    fire(env)
    detail = case(env, district.tokens["sl-d1"], cid)
    active = {a["username"] for a in detail["assignees"] if a["released_at"] is None}
    assert "sl-d1" in active and "sl-leader-day" not in active
    assert not [e for e in detail["timeline"] if e["kind"] == "handover"]
