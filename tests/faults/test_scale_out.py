"""Stateless processes: several `quanzu serve` and `quanzu worker` processes on one PostgreSQL.
A user connected to any process hears every event once, the screening index is current in every
process, and timers fire exactly once however many workers race for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.factories import bearer
from tests.faults.cluster import (
    Deployment,
    LiveStream,
    deployment,
    distinct_warning,
    fast_policy,
    shared_database,
    wait_for,
)

pytestmark = pytest.mark.postgres_only
SONGLING = {"address": "江苏省苏州市吴江区松陵街道流虹路88号"}  # routed to station SL


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One district for the module, served by two processes (A and B, no embedded worker);
    tests add worker processes."""
    home = tmp_path_factory.mktemp("scale-out")
    with shared_database() as url, deployment(url, home, policy=fast_policy()) as dep:
        for server in (dep.spawn_server("serve-a"), dep.spawn_server("serve-b")):  # side by side
            server.wait_healthy()
        yield dep


def _servers(district: Deployment) -> tuple[str, str]:
    return district.procs[0].url, district.procs[1].url


def _case_of(response: httpx.Response) -> int:
    assert response.status_code == 201, response.text
    case_id: int = response.json()["case_id"]
    return case_id


def _dispatched(case_id: int) -> Any:
    return lambda e: e["type"] == "case.dispatched" and e["case_id"] == case_id


def test_a_user_connected_to_any_server_hears_each_event_once(district: Deployment) -> None:
    a, b = _servers(district)
    on_a, on_b = LiveStream(a, district.tokens["sz-d1"]), LiveStream(b, district.tokens["sz-d1"])
    first = _case_of(district.post_warning(a, distinct_warning("SO-1", 1)))
    second = _case_of(district.post_warning(b, distinct_warning("SO-2", 2)))
    # Each stream sees the first warning (A: directly; B: through NOTIFY) and then the second.
    # NOTIFYs reach a listener in commit order, so a duplicate of the first on either stream would
    # show up before the second: the sequences below are exactly what each user saw.
    for stream in (on_a, on_b):
        seen = [(e["type"], e["case_id"]) for e in stream.until(_dispatched(second))]
        dispatched = [s for s in seen if s[0] == "case.dispatched"]
        assert dispatched == [("case.dispatched", first), ("case.dispatched", second)], seen
    on_a.close()
    on_b.close()


def test_events_raised_by_a_separate_worker_reach_the_servers(district: Deployment) -> None:
    """A `quanzu worker` process has no live clients of its own: the SLA breach it fires reaches
    the duty leader connected to a server process."""
    _a, b = _servers(district)
    leader = LiveStream(b, district.tokens["sz-leader"])  # SZ's duty leader is on shift around the clock
    case_id = _case_of(district.post_warning(b, distinct_warning("SO-W", 3)))
    district.worker("worker-1")  # the 2-second sign deadline passes unsigned: the climb starts
    escalated = leader.next_event(lambda e: e["type"] == "case.escalated" and e["case_id"] == case_id)
    assert escalated["notification_id"]
    leader.close()


def test_a_watch_made_through_one_server_is_screened_as_a_hit_through_another(district: Deployment) -> None:
    a, b = _servers(district)
    target = {**SONGLING, "phone": "13962519999"}
    body = {"phone": target["phone"]}

    def screen() -> Any:
        r = httpx.post(
            f"{b}/api/v1/screen", json=body, headers=bearer(district.tokens["bank"]), trust_env=False
        )
        assert r.status_code == 200, r.text
        return r.json()

    assert screen()["hit"] is False
    # A high-risk warning is watched by policy, in the intake transaction on A.
    _case_of(district.post_warning(a, distinct_warning("SO-S", 4, risk_level="high", target=target)))
    hit = wait_for("B's index to learn of the watch", lambda: (answer := screen())["hit"] and answer)
    assert hit["risk_level"] == "high"


def test_timers_fire_exactly_once_with_several_worker_processes(district: Deployment) -> None:
    a, _b = _servers(district)
    n = 20
    cases = [_case_of(district.post_warning(a, distinct_warning(f"SO-T{i}", 100 + i))) for i in range(n)]
    for i in (2, 3):
        district.worker(f"worker-{i}")  # with worker-1: several processes race for the timers
    sla_timers = "SELECT count(*) FROM timers WHERE kind = 'sla' AND subject_id = ANY(%s)"

    def all_fired() -> bool:
        with psycopg.connect(district.database_url) as conn:
            row = conn.execute(sla_timers + " AND fired_at IS NULL AND due_at < now()", (cases,)).fetchone()
            fired = conn.execute(sla_timers + " AND fired_at IS NOT NULL", (cases,)).fetchone()
        return row is not None and fired is not None and row[0] == 0 and fired[0] >= n

    wait_for("every sign deadline to be fired", all_fired)
    with psycopg.connect(district.database_url) as conn:
        breaches: dict[int, int] = dict(
            conn.execute(
                "SELECT case_id, count(*) FROM case_events WHERE kind = 'sla_breached'"
                " AND case_id = ANY(%s) GROUP BY case_id",
                (cases,),
            ).fetchall()
        )
    assert breaches == dict.fromkeys(cases, 1)
