"""Dispatch: who is chosen (the roster at that moment), what is queued, and when it is released."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from quanzu.auth.actor import Actor
from quanzu.codes import Role
from quanzu.dispatch.channels import verify_webhook_signature
from quanzu.dispatch.service import Announcement, announce_many, not_repeated
from quanzu.intake import service as intake
from quanzu.intake.schemas import WarningIn
from quanzu.kit.db import transaction
from quanzu.models.cases import Case, CaseAssignee, CaseEvent
from quanzu.models.dispatch import DeliveryAttempt, Notification, OutboxMessage
from quanzu.models.org import User
from quanzu.org.service import import_org
from quanzu.worker.runner import Worker
from tests.conftest import Env, LiveServer
from tests.factories import ORG, bearer, id_number, seed, warning
from tests.receivers import HttpReceiver

FEED = Actor(kind="client", id=1, name="national-feed", role=Role.FEED)


def post(env: Env, token: str, body: dict[str, Any]) -> dict[str, Any]:
    r = env.client.post("/api/v1/warnings", json=body, headers=bearer(token))
    assert r.status_code in (200, 201), r.text
    result: dict[str, Any] = r.json()
    return result


def assigned(env: Env, case_id: int) -> dict[str, str]:
    with env.reader() as s:
        rows = s.execute(
            select(User.username, CaseAssignee.position)
            .join(CaseAssignee, CaseAssignee.user_id == User.id)
            .where(CaseAssignee.case_id == case_id)
        ).all()
    return {username: position for username, position in rows}


def notified(env: Env, case_id: int) -> set[str]:
    with env.reader() as s:
        rows = s.scalars(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.case_id == case_id)
        ).all()
    return set(rows)


SL_ADDRESS = {"address": "江苏省苏州市吴江区松陵街道流虹路88号"}


def test_day_shift_gets_a_daytime_warning(env: Env) -> None:
    district = seed(env)  # clock: 14:00 in Suzhou
    case = post(env, district.feed_token, warning(target=SL_ADDRESS))
    assert case["station_code"] == "SL"
    assert assigned(env, case["case_id"]) == {"sl-leader-day": "leader", "sl-d1": "member", "sl-d2": "member"}
    assert notified(env, case["case_id"]) == {"sl-leader-day", "sl-d1", "sl-d2"}


def test_night_shift_from_the_exact_handover_instant(env: Env) -> None:
    district = seed(env)
    env.clock.advance(timedelta(hours=6))  # 20:00 in Suzhou: the night shift starts now
    case = post(env, district.feed_token, warning(target=SL_ADDRESS))
    assert assigned(env, case["case_id"]) == {"sl-leader-night": "leader", "sl-d3": "member"}


def test_nobody_rostered_still_reaches_the_station_leads_and_the_centre(env: Env) -> None:
    district = seed(env, with_roster=False)
    case = post(env, district.feed_token, warning(target=SL_ADDRESS))
    assert assigned(env, case["case_id"]) == {}
    assert notified(env, case["case_id"]) == {"sl-chief", "sl-leader-day", "sl-leader-night", "centre"}
    with env.reader() as s:
        kinds = s.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case["case_id"])).all()
    assert "nobody_on_duty" in kinds


def test_unroutable_warning_waits_in_the_centre_triage_queue(env: Env) -> None:
    district = seed(env)
    body = warning(
        target={
            "address": "浙江省杭州市西湖区文三路90号",
            "phone": "13805710000",
            "id_number": id_number("19550505", "321"),
        }
    )
    case = post(env, district.feed_token, body)
    assert case["station_code"] is None
    assert case["routing"]["method"] == "triage"
    assert "杭州" in case["routing"]["detail"]
    with env.reader() as s:
        row = s.get(Case, case["case_id"])
        assert row is not None and row.state == "triage"
    assert notified(env, case["case_id"]) == {"centre"}


def test_phone_home_area_routes_when_the_address_is_missing(env: Env) -> None:
    district = seed(env)
    case = post(env, district.feed_token, warning(target={"address": None}))
    assert case["station_code"] == "SL"  # the district's phone fallback station
    assert case["routing"]["method"] == "phone"
    assert "江苏省苏州市" in case["routing"]["detail"]


class RecordingPublisher:
    """Stands in for the SSE hub to observe *when* events are released; the real hub is tested
    over a socket below."""

    def __init__(self) -> None:
        self.events: list[tuple[list[int], dict[str, Any]]] = []

    def publish(self, user_ids: Any, event: dict[str, Any]) -> None:
        self.events.append((list(user_ids), event))


WEBHOOK_KEY = "s3cret"


def _endpoint(env: Env, station: str, url: str) -> None:
    """Configures the station's webhook the way an administrator does: through the org file."""
    branches = [
        {
            **b,
            "stations": [
                {**st, "channels": [{"kind": "webhook", "target": url, "secret": WEBHOOK_KEY}]}
                if st["code"] == station
                else st
                for st in b["stations"]
            ],
        }
        for b in ORG["branches"]
    ]
    with transaction(env.factory) as s:
        import_org(s, env.rt, {"centre": ORG["centre"], "branches": branches})


def test_notifications_are_released_only_after_commit(env: Env, receiver: HttpReceiver) -> None:
    seed(env)
    _endpoint(env, "SZ", receiver.url)
    publisher, wakes = RecordingPublisher(), []
    env.rt.live, env.rt.wake_delivery = publisher, lambda: wakes.append(1)
    with transaction(env.factory) as s:
        intake.receive(s, env.rt, FEED, WarningIn.model_validate(warning()))
        assert publisher.events == [] and wakes == []  # nothing leaves before the commit
    assert {e["type"] for _, e in publisher.events} == {"case.dispatched"}
    assert len(publisher.events) == 2  # sz-leader and sz-d1
    assert wakes == [1, 1]  # the worker: to deliver the outbox message and to link the contacts
    with env.reader() as s:
        assert len(s.scalars(select(OutboxMessage)).all()) == 1


def test_a_rolled_back_warning_notifies_nobody(env: Env, receiver: HttpReceiver) -> None:
    seed(env)
    _endpoint(env, "SZ", receiver.url)
    publisher, wakes = RecordingPublisher(), []
    env.rt.live, env.rt.wake_delivery = publisher, lambda: wakes.append(1)

    def failing_request() -> None:
        with transaction(env.factory) as s:
            intake.receive(s, env.rt, FEED, WarningIn.model_validate(warning()))
            raise RuntimeError("the request failed after the service ran")

    with pytest.raises(RuntimeError):
        failing_request()
    assert publisher.events == [] and wakes == []
    with env.reader() as s:
        assert s.scalars(select(OutboxMessage)).all() == []
        assert s.scalars(select(Notification)).all() == []
        assert s.scalars(select(Case)).all() == []
    assert env.app.state.worker.deliver() == 0
    assert receiver.requests == []


def test_outbox_delivers_signed_webhook_and_records_the_attempt(env: Env, receiver: HttpReceiver) -> None:
    district = seed(env)
    _endpoint(env, "SZ", receiver.url)
    case = post(env, district.feed_token, warning())
    worker: Worker = env.app.state.worker
    assert worker.deliver() == 1
    [request] = receiver.requests
    body = request.json()
    assert body["event"] == "case.dispatched"
    assert body["data"]["case_id"] == case["case_id"]
    assert "张**" in body["text"] and "13862512345" not in request.body.decode()  # masked PII only
    assert verify_webhook_signature(
        "s3cret",
        request.headers["x-quanzu-timestamp"],
        request.body,
        request.headers["x-quanzu-signature"],
        int(env.clock.now().timestamp() * 1000),
    )
    with env.reader() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert message.delivered_at == env.clock.now()
        assert [(a.ok, a.status) for a in s.scalars(select(DeliveryAttempt))] == [(True, "http 200")]
    assert worker.deliver() == 0  # delivered once, not again


def test_failed_delivery_is_retried_with_backoff_and_keeps_its_delivery_id(
    env: Env, receiver: HttpReceiver
) -> None:
    district = seed(env)
    _endpoint(env, "SZ", receiver.url)
    post(env, district.feed_token, warning())
    worker: Worker = env.app.state.worker
    receiver.status = 503
    assert worker.deliver() == 1
    assert worker.deliver() == 0  # not due yet: backoff
    env.clock.advance(timedelta(seconds=2))
    assert worker.deliver() == 1
    receiver.status = 200
    assert worker.deliver() == 0
    env.clock.advance(timedelta(seconds=4))
    assert worker.deliver() == 1
    ids = {r.headers["x-quanzu-delivery"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1  # receivers can de-duplicate retries
    with env.reader() as s:
        attempts = [(a.ok, a.status) for a in s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))]
        assert attempts == [(False, "http 503"), (False, "http 503"), (True, "http 200")]
        assert s.scalars(select(OutboxMessage)).one().delivered_at is not None


def test_permanent_failure_stops_retrying(env: Env, receiver: HttpReceiver) -> None:
    district = seed(env)
    _endpoint(env, "SZ", receiver.url)
    post(env, district.feed_token, warning())
    receiver.status = 400
    worker: Worker = env.app.state.worker
    assert worker.deliver() == 1
    env.clock.advance(timedelta(hours=1))
    assert worker.deliver() == 0
    with env.reader() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert message.dead_at is not None and message.delivered_at is None


def test_an_abandoned_claim_is_retried_after_its_lease(env: Env, receiver: HttpReceiver) -> None:
    """A worker that died between claiming and recording leaves a lease; the message is sent later."""
    from quanzu.dispatch.service import LEASE, _claim

    district = seed(env)
    _endpoint(env, "SZ", receiver.url)
    post(env, district.feed_token, warning())
    assert len(_claim(env.factory, env.rt, 10)) == 1  # claimed, never sent: the worker "crashed"
    worker: Worker = env.app.state.worker
    assert worker.deliver() == 0
    env.clock.advance(LEASE)
    assert worker.deliver() == 1
    assert len(receiver.requests) == 1


def test_live_event_reaches_the_officer_over_server_sent_events(env: Env, live_server: LiveServer) -> None:
    district = seed(env)
    received: list[dict[str, Any]] = []
    connected = threading.Event()

    def listen() -> None:
        headers = bearer(district.tokens["sz-d1"])
        with (
            httpx.Client(base_url=live_server.url, timeout=20, trust_env=False) as c,
            c.stream("GET", "/api/v1/events", headers=headers) as r,
        ):
            for line in r.iter_lines():
                if line.startswith(": connected"):
                    connected.set()
                if line.startswith("data: "):
                    received.append(json.loads(line.removeprefix("data: ")))
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert connected.wait(20)
    case = post(env, district.feed_token, warning())
    thread.join(timeout=20)
    assert received, "no live event arrived"
    assert received[0]["type"] == "case.dispatched"
    assert received[0]["case_id"] == case["case_id"]
    assert "盛泽派出所" in received[0]["title"]


def test_machine_clients_cannot_open_the_live_stream(env: Env) -> None:
    district = seed(env)
    assert env.client.get("/api/v1/events", headers=bearer(district.feed_token)).status_code == 403


def test_inbox_lists_my_notifications_only(env: Env) -> None:
    district = seed(env)
    post(env, district.feed_token, warning())
    mine = env.client.get("/api/v1/notifications", headers=bearer(district.tokens["sz-d1"])).json()
    theirs = env.client.get("/api/v1/notifications", headers=bearer(district.tokens["sl-d1"])).json()
    assert len(mine) == 1 and mine[0]["kind"] == "case.dispatched"
    assert theirs == []


def test_news_about_a_case_reaches_each_person_once_per_interval(env: Env) -> None:
    """`not_repeated`: the people told this kind of news about this case within the interval
    (earlier in the same list too) are left out; other kinds, other cases and an interval of
    zero are not filtered."""
    district = seed(env)
    r = env.client.post("/api/v1/warnings", json=warning(), headers=bearer(district.feed_token))
    case_id = r.json()["case_id"]
    with env.reader() as s:
        a, b, c = s.scalars(select(User.id).order_by(User.id).limit(3)).all()
    news = Announcement("t.news", case_id, "t", "t")
    other = Announcement("t.other", case_id, "t", "t")
    with transaction(env.factory) as session:
        announce_many(session, env.rt, [(news, [a], [])])
    env.clock.advance(timedelta(minutes=1))
    with transaction(env.factory) as session:
        kept = not_repeated(
            session, env.rt, [(news, [a, b], []), (news, [b, c], []), (other, [a], [])], timedelta(minutes=2)
        )
        assert [users for _, users, _ in kept] == [[b], [c], [a]]
        everyone: list[tuple[Announcement, list[int], list[int]]] = [(news, [a, b], [])]
        assert not_repeated(session, env.rt, everyone, timedelta(0)) == everyone
    env.clock.advance(timedelta(minutes=1))
    with transaction(env.factory) as session:
        assert [u for _, u, _ in not_repeated(session, env.rt, [(news, [a], [])], timedelta(minutes=2))] == [
            [a]
        ]
