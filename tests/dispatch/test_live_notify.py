"""How live events travel between processes (PostgreSQL NOTIFY): packed under the payload limit,
an oversized event sent by reference, a process's own notifications skipped."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import event, select

from quanzu.dispatch.live import NOTIFY_LIMIT, LiveHub, _payloads
from quanzu.kit.db import transaction
from quanzu.kit.listener import PgListener
from quanzu.models.dispatch import Notification
from quanzu.models.org import User
from tests.conftest import Env
from tests.factories import seed


def _event(nid: int, body: str = "请立即劝阻") -> dict[str, Any]:
    return {"type": "case.dispatched", "notification_id": nid, "case_id": 7, "title": "新预警", "body": body}


def test_events_are_packed_under_the_limit_and_an_oversized_one_goes_by_reference() -> None:
    deliveries = [([i], _event(i, "劝" * 300)) for i in range(40)] + [([99], _event(99, "长" * 5000))]
    payloads = _payloads("abc", deliveries)
    assert len(payloads) > 1
    assert all(len(p.encode()) <= NOTIFY_LIMIT for p in payloads)
    carried = [item for p in payloads for item in json.loads(p)["d"]]
    assert [uids for uids, _ in carried] == [[i] for i in range(40)] + [[99]]
    assert carried[-1][1] == {"ref": 99}
    assert all(json.loads(p)["o"] == "abc" for p in payloads)


def test_a_hub_delivers_other_processes_events_and_skips_its_own() -> None:
    async def scenario() -> list[dict[str, Any]]:
        hub = LiveHub()
        queue = hub.subscribe(5)
        hub.receive(_payloads(hub.origin, [([5], _event(1))])[0])  # ours: already delivered
        hub.receive(_payloads("another-process", [([5], _event(2)), ([6], _event(3))])[0])
        hub.receive(_payloads("", [([5], _event(4))])[0])  # a CLI worker has no hub of its own
        await asyncio.sleep(0)  # let call_soon_threadsafe hand the events over
        return [queue.get_nowait() for _ in range(queue.qsize())]

    got = asyncio.run(scenario())
    assert [e["notification_id"] for e in got] == [2, 4]


def test_an_event_sent_by_reference_is_read_back_from_the_inbox(env: Env) -> None:
    seed(env)
    with transaction(env.factory) as session:
        user_id = session.scalars(select(User.id).where(User.username == "sz-d1")).one()
        row = Notification(
            user_id=user_id,
            case_id=None,
            kind="case.dispatched",
            title="新预警",
            body="长" * 5000,
            created_at=env.clock.now(),
        )
        session.add(row)
        session.flush()
        nid = row.id
    [payload] = _payloads("another-process", [([user_id], _event(nid, "长" * 5000))])
    assert json.loads(payload)["d"][0][1] == {"ref": nid}

    async def scenario() -> dict[str, Any]:
        hub = LiveHub()
        hub.attach(PgListener(env.app.state.quanzu.engine), env.reader)
        queue = hub.subscribe(user_id)
        hub.receive(payload)
        return await asyncio.wait_for(queue.get(), timeout=10)

    event = asyncio.run(scenario())
    assert event["notification_id"] == nid and event["body"] == "长" * 5000


def test_a_reference_for_someone_connected_elsewhere_is_not_read_back(env: Env) -> None:
    """Every process hears every event: one only reads back what its own subscribers need."""
    statements: list[str] = []
    engine = env.app.state.quanzu.engine

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    [payload] = _payloads("another-process", [([41], _event(1, "长" * 8000))])

    async def scenario() -> int:
        hub = LiveHub()
        hub.attach(PgListener(engine), env.reader)
        hub.receive(payload)  # nobody connected here at all
        queue = hub.subscribe(42)  # someone else is
        hub.receive(payload)
        await asyncio.sleep(0)
        return queue.qsize()

    assert asyncio.run(scenario()) == 0
    event.remove(engine, "before_cursor_execute", count)
    assert statements == []
