"""`quanzu ingest nats` stores what `POST /api/v1/warnings` stores, answers replays the same way,
and parks everything it cannot store on the dead-letter subject with the errors HTTP would give."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from quanzu.kit.db import make_engine, make_sessionmaker
from quanzu.models.audit import AuditEntry
from quanzu.models.cases import Case, EarlyWarning
from quanzu.streams.jetstream import JetStreamConfig, JetStreamSource
from quanzu.streams.service import ConsumeOptions, FeedUnavailable, Retry, Tally, WarningStore, consume
from quanzu.streams.source import Delivery, Rejection
from tests.conftest import Env
from tests.factories import bearer, id_number, seed, warning
from tests.streams.conftest import consumer_state, dead_letters, publish


def drain(env: Env, config: JetStreamConfig, client: str = "national-feed") -> Tally:
    """Runs the consumer in this process until the stream has been quiet for a moment."""

    async def run() -> Tally:
        source = await JetStreamSource.connect(config)
        try:
            store = WarningStore(env.factory, env.rt, client)
            options = ConsumeOptions(batch=10, fetch_timeout_s=0.5, idle_exit_s=1.5)
            return await consume(source, store, options, asyncio.Event())
        finally:
            await source.close()

    return asyncio.run(run())


def person(i: int) -> dict[str, str]:
    return {"phone": f"1386251{i:04d}", "id_number": id_number("19750101", f"{i:03d}")}


def test_stream_stores_like_http_and_dead_letters_what_http_refuses(
    env: Env, jetstream: JetStreamConfig
) -> None:
    district = seed(env)
    first = warning("S-1", target=person(1))
    changed = {**first, "risk_level": "low"}  # same key, different content: HTTP says 409
    invalid = warning("S-4", target={"id_number": "320584198001011239", "phone": None})
    publish(
        jetstream,
        [first, warning("S-2", target=person(2)), first, changed, b"{not json", invalid, warning("S-3")],
    )

    tally = drain(env, jetstream)

    assert (tally.stored, tally.replayed, tally.dead_lettered) == (3, 1, 3)
    with env.reader() as s:
        rows = s.scalars(select(EarlyWarning).order_by(EarlyWarning.id)).all()
        assert [w.external_id for w in rows] == ["S-1", "S-2", "S-3"]
        assert s.scalar(select(func.count()).select_from(Case)) == 3
        audited = s.scalars(select(AuditEntry).where(AuditEntry.action == "warning.received")).all()
        assert {a.actor for a in audited} == {"client:1:national-feed"}
    dead = dead_letters(jetstream)
    assert [d.status for d in dead] == [409, 422, 422]
    assert dead[1].payload == b"{not json" and dead[1].errors[0]["field"] == "body"
    # The dead letter carries exactly the errors the HTTP endpoint gives for the same body.
    http = env.client.post("/api/v1/warnings", json=invalid, headers=bearer(district.feed_token))
    assert http.status_code == 422 and http.json()["errors"] == dead[2].errors
    replay = env.client.post("/api/v1/warnings", json=first, headers=bearer(district.feed_token))
    assert replay.status_code == 200 and replay.json()["warning_id"] == rows[0].id
    state = consumer_state(jetstream)
    assert state.num_pending == 0 and state.num_ack_pending == 0  # everything settled, nothing left


def test_consumer_refuses_to_run_without_an_active_feed_client(env: Env, jetstream: JetStreamConfig) -> None:
    seed(env)  # has a feed client, but not the one named
    publish(jetstream, [warning("S-9")])
    with pytest.raises(FeedUnavailable):
        drain(env, jetstream, client="nobody")
    assert consumer_state(jetstream).num_pending == 1  # left in the stream for a consumer that can store it


def test_a_database_outage_asks_for_redelivery_and_never_dead_letters(env: Env, closed_port: int) -> None:
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{closed_port}/quanzu", pool_size=1)
    store = WarningStore(make_sessionmaker(engine), env.rt, "national-feed", max_attempts=3)
    try:
        for attempt in (1, 3, 30):  # however often: the database being down is not the message's fault
            result = store.process(Delivery(json.dumps(warning("S-5")).encode(), "S:5", attempt, None))
            assert isinstance(result, Retry) and "database unavailable" in result.reason
    finally:
        engine.dispose()
    bad = store.process(Delivery(b"[1, 2]", "S:6", 1, None))  # rejected before any database work
    assert isinstance(bad, Rejection) and bad.status == 422 and bad.errors[0]["field"] == "body"
