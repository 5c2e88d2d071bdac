"""Police–bank linkage end to end over HTTP on both databases: the watch list made by policy and by
officers, screening on plain and blinded identifiers, bank events, stop-payment requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from quanzu.app import create_app
from quanzu.audit.screening import SEAL_ACTION, SEAL_AFTER
from quanzu.audit.service import verify
from quanzu.banks.index import IndexedIdentifier
from quanzu.banks.keeper import CHANNEL as WATCH_CHANNEL
from quanzu.banks.keeper import CREATED, WatchKeeper, announce_watch_change, announce_watch_created
from quanzu.kit.db import libpq_url, savepoint, transaction
from quanzu.models.audit import AuditEntry, ScreeningRecord
from quanzu.models.banks import StopPaymentAccount
from quanzu.models.cases import CaseEvent
from quanzu.models.dispatch import Notification
from quanzu.models.org import User
from quanzu.worker.runner import SEAL_EVERY_S, Worker
from tests.conftest import Env
from tests.dispatch.test_dispatch import RecordingPublisher
from tests.dissuasion.test_workflow_api import REVERSE, SL, move, open_case
from tests.factories import District, bearer, id_number, seed, statements_sent

OTHER_ID = id_number("19700101", "222")


def screen(env: Env, token: str, body: dict[str, Any]) -> Any:
    return env.client.post("/api/v1/screen", json=body, headers=bearer(token))


def linkage(env: Env, token: str, case_id: int) -> Any:
    r = env.client.get(f"/api/v1/cases/{case_id}/banks", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def blind(key_hex: str, value: str) -> str:
    return hmac.new(bytes.fromhex(key_hex), value.encode(), hashlib.sha256).hexdigest()


def fire(env: Env) -> int:
    worker: Worker = env.app.state.worker
    return worker.fire_timers()


def close_dissuaded(env: Env, token: str, case_id: int) -> None:
    for step in (
        {"kind": "sign"},
        {"kind": "phone", "outcome": "answered"},
        {"kind": "face_to_face", "outcome": "dissuaded"},
    ):
        assert move(env, token, case_id, "steps", step).status_code == 200
    body = {"outcome": "dissuaded", "amount_protected": "1000.00", "reverse_check": REVERSE}
    r = move(env, token, case_id, "close", body)
    assert r.status_code == 200, r.text


# --- the watch list ---------------------------------------------------------------------------


def test_a_high_risk_case_is_watched_by_policy_and_closing_ends_the_watch(env: Env) -> None:
    district = seed(env)
    me = district.tokens["sl-d1"]
    cid = open_case(env, district, "high")
    watches = linkage(env, me, cid)["watches"]
    assert len(watches) == 1 and watches[0]["active"] and watches[0]["origin"] == "policy"
    assert {i.split()[0] for i in watches[0]["identifiers"]} == {"手机号", "身份证号"}
    assert screen(env, district.bank_token, {"phone": SL["phone"]}).json()["hit"] is True
    close_dissuaded(env, me, cid)
    ended = linkage(env, me, cid)["watches"][0]
    assert not ended["active"] and ended["end_reason"] == "case_closed"
    assert screen(env, district.bank_token, {"phone": SL["phone"]}).json() == {
        "hit": False,
        "watch_id": None,
        "risk_level": None,
        "advice": None,
        "station": None,
    }


def test_a_medium_case_is_not_watched_until_an_officer_asks_and_an_extended_watch_outlives_closure(
    env: Env,
) -> None:
    district = seed(env)
    me = district.tokens["sl-d1"]
    cid = open_case(env, district, "medium")
    assert linkage(env, me, cid)["watches"] == []
    assert screen(env, district.bank_token, {"id_number": SL["id_number"]}).json()["hit"] is False
    r = move(
        env, me, cid, "watch", {"reason": "家属反映仍在联系对方", "accounts": ["6222 0212 3456 7890 123"]}
    )
    assert r.status_code == 200, r.text
    watch = r.json()["watches"][0]
    assert watch["origin"] == "officer" and "账号 6222****0123" in watch["identifiers"]
    hit = screen(env, district.bank_token, {"account": "6222021234567890123"}).json()
    assert hit["hit"] and hit["risk_level"] == "medium" and hit["station"]["code"] == "SL"
    extended = move(env, me, cid, "watch", {"days": 60, "keep_after_close": True}).json()["watches"]
    assert len(extended) == 1 and extended[0]["keep_after_close"]
    assert extended[0]["expires_at"] > watch["expires_at"]
    for step in ({"kind": "sign"}, {"kind": "phone", "outcome": "dissuaded"}):
        move(env, me, cid, "steps", step)
    body = {"outcome": "dissuaded", "amount_protected": "0.00", "reverse_check": REVERSE}
    assert move(env, me, cid, "close", body).status_code == 200
    assert linkage(env, me, cid)["watches"][0]["active"]  # kept past the closure
    ended = move(env, me, cid, "watch/end", {"reason": "回访确认已清醒"}).json()["watches"][0]
    assert not ended["active"] and ended["end_reason"] == "ended_by_officer"
    assert move(env, me, cid, "watch/end", {"reason": "again"}).status_code == 409


def test_a_watch_expires_by_its_timer(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")  # the shipped policy watches a high-risk target 14 days
    env.clock.advance(timedelta(days=14) - timedelta(seconds=1))
    fire(env)
    assert screen(env, district.bank_token, {"phone": SL["phone"]}).json()["hit"]
    env.clock.advance(timedelta(seconds=1))
    fire(env)
    watch = linkage(env, district.tokens["centre"], cid)["watches"][0]
    assert watch["end_reason"] == "expired"
    assert screen(env, district.bank_token, {"phone": SL["phone"]}).json()["hit"] is False


def test_another_stations_officer_cannot_watch_or_see_the_linkage(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    stranger = district.tokens["sz-d1"]
    assert env.client.get(f"/api/v1/cases/{cid}/banks", headers=bearer(stranger)).status_code == 404
    assert move(env, stranger, cid, "watch", {"days": 5}).status_code == 404
    assert move(env, district.bank_token, cid, "watch", {"days": 5}).status_code == 403


# --- screening --------------------------------------------------------------------------------


def test_screening_hits_on_plain_and_blinded_identifiers_and_never_returns_pii(env: Env) -> None:
    district = seed(env)
    open_case(env, district, "extreme")
    plain = screen(env, district.bank_token, {"id_number": SL["id_number"].lower(), "channel": "counter"})
    assert plain.status_code == 200, plain.text
    answer = plain.json()
    assert answer["hit"] and answer["risk_level"] == "extreme"
    assert answer["advice"].startswith("暂停办理") and answer["station"]["name"]
    blinded = screen(
        env,
        district.bank_token,
        {"blinded": {"phone": blind(district.bank_key, "+86" + SL["phone"])}, "amount": "50000.00"},
    ).json()
    assert blinded["hit"] and blinded["watch_id"] == answer["watch_id"]
    for body in (
        {"id_number": OTHER_ID},
        {"phone": "13900000000"},
        {"blinded": {"phone": blind(district.bank_key, "+8613900000000")}},
        {"blinded": {"phone": blind(district.bank_key, SL["phone"])}},  # not normalised: no match
    ):
        assert screen(env, district.bank_token, body).json()["hit"] is False, body
    text = json.dumps(answer, ensure_ascii=False)
    for secret in (SL["phone"], SL["id_number"], SL["id_number"][-6:], "张", "流虹路"):
        assert secret not in text


def test_each_bank_blinds_with_its_own_key_and_every_screening_is_audited(env: Env) -> None:
    district = seed(env)
    open_case(env, district, "high")
    digest = blind(district.bank_key, "+86" + SL["phone"])
    assert screen(env, district.bank_token, {"blinded": {"phone": digest}}).json()["hit"]
    # Another bank sending WJRCB's digest: its own key would give a different one, so no hit.
    assert screen(env, district.other_bank_token, {"blinded": {"phone": digest}}).json()["hit"] is False
    assert screen(env, district.other_bank_token, {"phone": SL["phone"]}).json()["hit"]  # plain works
    with env.reader() as s:
        entries = s.scalars(select(ScreeningRecord).order_by(ScreeningRecord.id)).all()
    assert [(e.actor.split(":")[2], e.hit) for e in entries] == [
        ("bank-of-wujiang", True),
        ("icbc-wujiang", False),
        ("icbc-wujiang", True),
    ]
    assert all(SL["phone"] not in json.dumps(e.detail) for e in entries)


def test_screening_input_is_validated_and_only_banks_may_screen(env: Env) -> None:
    district = seed(env)
    nothing = screen(env, district.bank_token, {"channel": "counter"})
    assert nothing.status_code == 422 and nothing.json()["errors"][0]["field"] == "body"
    bad = screen(env, district.bank_token, {"blinded": {"phone": "abc"}, "id_number": "123"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"blinded.phone", "id_number"}
    assert screen(env, district.feed_token, {"phone": SL["phone"]}).status_code == 403
    assert screen(env, district.tokens["centre"], {"phone": SL["phone"]}).status_code == 403
    assert env.client.post("/api/v1/screen", json={"phone": SL["phone"]}).status_code == 401


def test_a_watch_created_in_one_transaction_is_in_the_index_right_after_commit(env: Env) -> None:
    """From what the transaction wrote: the index does not read the new watch back."""
    district = seed(env)
    cid = open_case(env, district, "medium")
    assert screen(env, district.bank_token, {"id_number": SL["id_number"]}).json()["hit"] is False
    with index_reads(env) as reads:
        move(env, district.tokens["sl-d1"], cid, "watch", {})
    assert reads == []
    assert screen(env, district.bank_token, {"id_number": SL["id_number"]}).json()["hit"] is True


def index_reads(env: Env) -> AbstractContextManager[list[str]]:
    """The screening index's reads of live watches' identifiers (`active_identifiers`)."""
    return statements_sent(env, lambda s: "FROM watch_identifiers JOIN watch_entries" in " ".join(s.split()))


# --- bank events ------------------------------------------------------------------------------


def _event(**overrides: Any) -> dict[str, Any]:
    body = {
        "external_id": "EV-1",
        "phone": SL["phone"],
        "kind": "withdrawal",
        "channel": "counter",
        "amount": "30000.00",
        "branch_code": "SZ01",
        "action_taken": "held",
        "occurred_at": "2026-11-28T14:05:00+08:00",
    }
    body.update(overrides)
    return body


def test_a_bank_event_lands_on_the_timeline_and_alerts_the_officers_live(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "sign"})
    publisher = RecordingPublisher()
    env.rt.live = publisher
    r = env.client.post("/api/v1/bank-events", json=_event(), headers=bearer(district.bank_token))
    assert r.status_code == 201, r.text
    with env.reader() as s:
        names = dict(s.execute(select(User.id, User.username)).all())
        alerted = {
            names[uid] for ids, event in publisher.events for uid in ids if event["type"] == "case.bank_event"
        }
        notes = s.scalars(select(Notification).where(Notification.kind == "case.bank_event")).all()
        timeline = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == cid, CaseEvent.kind == "bank_event")
        ).all()
    assert {"sl-d1", "sl-leader-day", "sl-chief"} <= alerted  # on the case, duty leader on shift, chief
    assert notes and "已拦截" in notes[0].title and SL["phone"] not in notes[0].body
    assert len(timeline) == 1 and timeline[0].data["action_taken"] == "held"
    assert linkage(env, district.tokens["sl-d1"], cid)["events"][0]["amount"] == "30000.00"


def test_a_bank_event_retry_is_not_duplicated_and_banks_see_only_their_own(env: Env) -> None:
    district = seed(env)
    open_case(env, district, "high")
    first = env.client.post("/api/v1/bank-events", json=_event(), headers=bearer(district.bank_token))
    again = env.client.post("/api/v1/bank-events", json=_event(), headers=bearer(district.bank_token))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["event_id"] == first.json()["event_id"] and again.json()["replay"]
    no_ref = _event(external_id=None, kind="transfer")
    no_ref.pop("external_id")
    a = env.client.post("/api/v1/bank-events", json=no_ref, headers=bearer(district.bank_token))
    b = env.client.post("/api/v1/bank-events", json=no_ref, headers=bearer(district.bank_token))
    assert a.json()["event_id"] == b.json()["event_id"]
    mine = env.client.get("/api/v1/bank-events", headers=bearer(district.bank_token)).json()
    theirs = env.client.get("/api/v1/bank-events", headers=bearer(district.other_bank_token)).json()
    assert len(mine) == 2 and theirs == []
    unknown = env.client.post(
        "/api/v1/bank-events",
        json=_event(external_id="EV-9", phone="13900000000"),
        headers=bearer(district.bank_token),
    )
    assert unknown.status_code == 422


# --- stop-payment -----------------------------------------------------------------------------

STOP = {
    "bank": "WJRCB",
    "reason": "受害人已向以下账户转账，请紧急止付",
    "accounts": [
        {"account": "6228 4800 1234 5678 901", "holder_name": "李四", "amount": "20000.00"},
        {"account": "6217001234567890", "amount": "10000.00"},
    ],
}


def _file(env: Env, district: District, cid: int) -> Any:
    r = env.client.post(
        f"/api/v1/cases/{cid}/stop-payments", json=STOP, headers=bearer(district.tokens["sl-d1"])
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_stop_payment_lifecycle_from_request_to_result(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    filed = _file(env, district, cid)
    assert filed["state"] == "requested" and filed["accounts"][0]["account"] == "6228****8901"
    sid = filed["stop_payment_id"]
    pending = env.client.get("/api/v1/stop-payments", headers=bearer(district.bank_token)).json()
    assert [p["stop_payment_id"] for p in pending] == [sid]
    assert pending[0]["accounts"][0]["account"] == "6228480012345678901"  # the bank must act on it
    assert pending[0]["case_id"] is None and pending[0]["requested_by"] is None
    assert env.client.get("/api/v1/stop-payments", headers=bearer(district.other_bank_token)).json() == []
    other = env.client.post(
        f"/api/v1/stop-payments/{sid}/acknowledge", headers=bearer(district.other_bank_token)
    )
    assert other.status_code == 404
    ack = env.client.post(
        f"/api/v1/stop-payments/{sid}/acknowledge", json={}, headers=bearer(district.bank_token)
    )
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
    ids = [a["account_id"] for a in pending[0]["accounts"]]
    partial = {
        "accounts": [
            {"account_id": ids[0], "result": "stopped", "amount_stopped": "20000.00"},
            {"account_id": ids[1], "result": "failed", "amount_stopped": "0"},
        ],
        "note": "第二个账户资金已转出",
    }
    missing = {"accounts": partial["accounts"][:1]}
    r = env.client.post(
        f"/api/v1/stop-payments/{sid}/result", json=missing, headers=bearer(district.bank_token)
    )
    assert r.status_code == 422 and "缺少" in r.json()["errors"][0]["message"]
    r = env.client.post(
        f"/api/v1/stop-payments/{sid}/result", json=partial, headers=bearer(district.bank_token)
    )
    assert r.status_code == 200 and r.json()["state"] == "partial"
    again = env.client.post(
        f"/api/v1/stop-payments/{sid}/acknowledge", json={}, headers=bearer(district.bank_token)
    )
    assert again.status_code == 409 and "partial" in again.json()["message"]
    view = linkage(env, district.tokens["sl-d1"], cid)["stop_payments"][0]
    assert view["state"] == "partial" and view["accounts"][0]["amount_stopped"] == "20000.00"
    with env.reader() as s:
        kinds = s.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == cid).order_by(CaseEvent.id)).all()
        reads = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "pii.read"))
    assert kinds[-3:] == ["stop_payment_filed", "stop_payment_acknowledged", "stop_payment_result"]
    assert reads == 1  # the bank's listing of the accounts in full


def test_an_unacknowledged_stop_payment_escalates_like_any_sla(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "low")  # low risk: no SLA of its own fires within the hour
    move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "sign"})
    move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "phone", "outcome": "answered"})
    sid = _file(env, district, cid)["stop_payment_id"]
    acked = _file(env, district, cid)["stop_payment_id"]
    env.client.post(
        f"/api/v1/stop-payments/{acked}/acknowledge", json={}, headers=bearer(district.bank_token)
    )
    env.clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
    fire(env)
    assert (
        env.client.get(f"/api/v1/cases/{cid}", headers=bearer(district.tokens["sl-d1"])).json()["escalation"]
        is None
    )
    env.clock.advance(timedelta(seconds=1))
    fire(env)
    detail = env.client.get(f"/api/v1/cases/{cid}", headers=bearer(district.tokens["sl-d1"])).json()
    assert detail["escalation"]["state"] == "climbing"
    views = {s["stop_payment_id"]: s for s in linkage(env, district.tokens["sl-d1"], cid)["stop_payments"]}
    assert views[sid]["ack_breached_at"] is not None and views[acked]["ack_breached_at"] is None
    with env.reader() as s:
        overdue = s.scalars(select(CaseEvent).where(CaseEvent.kind == "stop_payment_overdue")).all()
    assert [e.data["stop_payment_id"] for e in overdue] == [sid]


def test_stop_payment_requests_are_validated_and_cancellable(env: Env) -> None:
    district = seed(env)
    cid = open_case(env, district, "high")
    me = district.tokens["sl-d1"]
    bad = env.client.post(
        f"/api/v1/cases/{cid}/stop-payments",
        json={"bank": "NOPE", "reason": "x", "accounts": [{"account": "12ab", "amount": "-1"}]},
        headers=bearer(me),
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"accounts.0.account", "accounts.0.amount"}
    unknown_bank = env.client.post(
        f"/api/v1/cases/{cid}/stop-payments", json={**STOP, "bank": "NOPE"}, headers=bearer(me)
    )
    assert unknown_bank.status_code == 422 and unknown_bank.json()["errors"][0]["field"] == "bank"
    sid = _file(env, district, cid)["stop_payment_id"]
    cancelled = env.client.post(f"/api/v1/cases/{cid}/stop-payments/{sid}/cancel", headers=bearer(me))
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    late = env.client.post(
        f"/api/v1/stop-payments/{sid}/acknowledge", json={}, headers=bearer(district.bank_token)
    )
    assert late.status_code == 409
    with env.reader() as s:  # account numbers are encrypted at rest
        stored = s.scalars(select(StopPaymentAccount.account_enc)).all()
    assert stored and all(b"6228480012345678901" not in blob for blob in stored)


@pytest.mark.postgres_only
def test_another_process_sees_a_new_watch_through_listen_notify(env: Env) -> None:
    """A second app on the same database stands in for another server process: it learns of the
    watch only through PostgreSQL NOTIFY (its index was built before the watch existed)."""
    district = seed(env)
    cid = open_case(env, district, "medium")
    other = create_app(env.settings, env.clock)
    with TestClient(other) as second:
        body = {"id_number": SL["id_number"]}
        assert (
            second.post("/api/v1/screen", json=body, headers=bearer(district.bank_token)).json()["hit"]
            is False
        )
        move(env, district.tokens["sl-d1"], cid, "watch", {})
        seen = threading.Event()
        for _ in range(250):  # waits for the notification to arrive; asserts nothing about speed
            if second.post("/api/v1/screen", json=body, headers=bearer(district.bank_token)).json()["hit"]:
                seen.set()
                break
            seen.wait(0.02)
        assert seen.is_set()
        move(env, district.tokens["sl-d1"], cid, "watch/end", {"reason": "测试"})
        for _ in range(250):
            if not second.post("/api/v1/screen", json=body, headers=bearer(district.bank_token)).json()[
                "hit"
            ]:
                break
            seen.wait(0.02)
        else:
            raise AssertionError("the ended watch stayed in the other process's index")


def test_screening_records_are_sealed_into_the_audit_chain_and_tampering_shows(env: Env) -> None:
    """Screening records (group-committed, no chain lock each) interleave with ordinary audited
    moves; the worker seals them into the chain once they are old enough; `verify` passes, and
    fails once a sealed record is changed behind the triggers' back."""
    district = seed(env)
    cid = open_case(env, district, "high")
    assert move(env, district.tokens["sl-d1"], cid, "steps", {"kind": "sign"}).status_code == 200
    for i in range(5):
        body = {"phone": SL["phone"] if i % 2 else "13900000000"}
        assert screen(env, district.bank_token, body).status_code == 200
        note = {"kind": "analysis", "note": f"第{i}次"}
        assert move(env, district.tokens["sl-d1"], cid, "steps", note).status_code == 200
    worker: Worker = env.app.state.worker
    assert worker.seal_screening() == 0  # not yet SEAL_AFTER old: a batch may still be committing
    env.clock.advance(SEAL_AFTER)
    assert worker.seal_screening() == 5
    assert worker.seal_screening() == 0  # sealed once
    assert screen(env, district.bank_token, {"phone": SL["phone"]}).status_code == 200
    env.clock.advance(SEAL_AFTER)
    assert worker.seal_screening() == 1  # the next range starts where the last one ended
    with env.reader() as s:
        checked, problems = verify(s)
        seals = s.scalars(select(AuditEntry).where(AuditEntry.action == SEAL_ACTION)).all()
    assert problems == [] and checked > 6
    assert [(e.detail["after_id"], e.detail["count"]) for e in seals] == [(0, 5), (5, 1)]
    _tamper_with_screening_record(env, 2)
    with env.reader() as s:
        _checked, problems = verify(s)
    assert [p.seq for p in problems] == [seals[0].seq]
    assert "changed" in problems[0].problem


def test_the_worker_seals_screening_in_ranges_not_on_every_round(env: Env) -> None:
    """Under screening load some records come of age on every round: sealing them each time
    made the worker spin (a chain entry per few dozen calls). A round seals at most every
    SEAL_EVERY_S of its upkeep clock, and loops again at once only while a backlog is left."""
    district = seed(env)
    ticks = [0.0]
    worker = Worker(env.factory, env.rt, max_attempts=3, timeout_s=5.0, upkeep_clock=lambda: ticks[0])

    def seals() -> list[int]:
        with env.reader() as s:
            entries = s.scalars(select(AuditEntry).where(AuditEntry.action == SEAL_ACTION)).all()
            return [int(e.detail["count"]) for e in entries]

    for _ in range(3):
        assert screen(env, district.bank_token, {"phone": "13900000000"}).status_code == 200
    env.clock.advance(SEAL_AFTER)
    assert worker.seal_screening_when_due() == 0  # three sealed, no backlog: no round again at once
    assert seals() == [3]
    assert screen(env, district.bank_token, {"phone": "13900000001"}).status_code == 200
    env.clock.advance(SEAL_AFTER)
    worker.run_once()
    assert seals() == [3]  # of age, but the range is cut only every SEAL_EVERY_S
    ticks[0] += SEAL_EVERY_S
    worker.run_once()
    assert seals() == [3, 1]


def _tamper_with_screening_record(env: Env, record_id: int) -> None:
    """What someone with DDL rights could do: switch the append-only guard off, edit, switch it on."""
    with env.factory() as s:
        if env.is_postgres:
            s.execute(text("ALTER TABLE screening_log DISABLE TRIGGER screening_log_append_only"))
            s.execute(text("UPDATE screening_log SET hit = NOT hit WHERE id = :i"), {"i": record_id})
            s.execute(text("ALTER TABLE screening_log ENABLE TRIGGER screening_log_append_only"))
        else:
            s.execute(text("DROP TRIGGER screening_log_no_update"))
            s.execute(text("UPDATE screening_log SET hit = NOT hit WHERE id = :i"), {"i": record_id})
        s.commit()


@pytest.mark.postgres_only
def test_a_transactions_watch_changes_go_out_in_one_notification(env: Env) -> None:
    """A group commit's warnings each create a watch: the other processes hear of them once, with
    the commit, and not of a change whose savepoint rolled back."""
    listener = psycopg.connect(libpq_url(env.app.state.quanzu.engine), autocommit=True)
    listener.execute(f"LISTEN {WATCH_CHANNEL}")
    keeper = env.rt.watch
    with transaction(env.factory) as session:
        announce_watch_change(session, keeper, [101])
        with pytest.raises(RuntimeError):
            _refused_change(session, keeper, 102)
        announce_watch_change(session, keeper, [103, 101])
    heard = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    listener.close()
    assert keeper is not None
    assert heard == [f"{keeper.origin}:101,103"]


@pytest.mark.postgres_only
def test_created_watches_travel_with_their_identifiers_in_as_many_notifications_as_they_need(
    env: Env,
) -> None:
    """Another process indexes them from the payloads alone; a watch changed again after its
    creation in the same transaction is announced as a change (read back by everyone)."""
    listener = psycopg.connect(libpq_url(env.app.state.quanzu.engine), autocommit=True)
    listener.execute(f"LISTEN {WATCH_CHANNEL}")
    keeper = env.rt.watch
    assert keeper is not None
    enc = env.rt.cipher.encrypt
    created = {
        watch_id: [
            IndexedIdentifier(
                watch_id,
                "phone",
                f"{watch_id:016x}{0:048x}",
                enc(f"139{watch_id:08d}", context="watch.phone"),
            ),
            IndexedIdentifier(
                watch_id,
                "account",
                f"{watch_id + 100:016x}{0:048x}",
                enc("6228" * 5, context="watch.account"),
            ),
        ]
        for watch_id in range(1, 41)
    }
    with transaction(env.factory) as session:
        for watch_id, identifiers in created.items():
            announce_watch_created(session, keeper, watch_id, identifiers)
        announce_watch_change(session, keeper, [40])
    heard = [n.payload for n in listener.notifies(timeout=5, stop_after=3)]
    listener.close()
    assert heard[0] == f"{keeper.origin}:40"
    payloads = [p.removeprefix(f"{keeper.origin}:") for p in heard[1:]]
    assert len(payloads) == 2 and all(p.startswith(CREATED) and len(p) < 8000 for p in payloads)
    other = WatchKeeper(env.factory, env.rt.cipher)
    for payload in heard[1:]:
        other._apply(payload.replace(keeper.origin, "another", 1))
    assert other.index.plain("phone", f"{7:016x}") == (7,)
    assert other.index.plain("account", f"{107:016x}") == (7,)
    assert other.index.plain("phone", f"{40:016x}") == ()  # changed: read back, and it is not stored


def _refused_change(session: Session, keeper: WatchKeeper | None, watch_id: int) -> None:
    with savepoint(session):
        announce_watch_change(session, keeper, [watch_id])
        raise RuntimeError("this warning is refused")
