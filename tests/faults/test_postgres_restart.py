"""Drill: restart PostgreSQL under intake load. The server and the worker carry on without
anyone touching them: new warnings are accepted again, timers fire again, live events cross
processes again (the LISTEN connections came back). Clients were told the truth throughout:
every 2xx'd warning is stored once, every failure was a 5xx or a broken connection (never a 2xx
for something lost), and a retry of a failed request is safe.

This drill restarts a PostgreSQL cluster of its own (initdb on a free port), never the shared one."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from tests.faults.cluster import (
    LiveStream,
    ThrowawayPostgres,
    count_warnings,
    deployment,
    fast_policy,
    wait_for,
)
from tests.faults.load import IntakeLoad

pytestmark = pytest.mark.postgres_only
ACCEPTED = 10  # before the restart, and again after it


def _case_of(url: str, external_id: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT case_id FROM warnings WHERE external_id = %s", (external_id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_processes_ride_out_a_database_restart_under_load(tmp_path: Path) -> None:
    pg = ThrowawayPostgres()
    pg.start()
    try:
        with deployment(pg.url, tmp_path, policy=fast_policy()) as district:
            server = district.spawn_server("serve")
            worker = district.worker("worker")
            server.wait_healthy()
            # Open before the restart: the escalations the worker fires after it must arrive here.
            leader = LiveStream(server.url, district.tokens["sz-leader"])
            load = IntakeLoad(district, "PR", threads=4)
            load.start(server.url)
            wait_for("warnings to be accepted", lambda: load.count("ok") >= ACCEPTED)
            began = time.monotonic()
            pg.restart("fast")  # returns once PostgreSQL accepts connections again
            restarted = time.monotonic()
            wait_for("warnings to be accepted again", lambda: len(load.accepted_after(restarted)) >= ACCEPTED)
            load.stop()
            recovered_in = load.answered_at[load.accepted_after(restarted)[0]] - restarted

            assert server.alive and worker.alive
            assert all(status < 300 or status >= 500 for status in load.statuses), dict(load.statuses)
            accepted = load.ids("ok")
            failed = load.ids("refused") + load.ids("in_flight")
            stored = count_warnings(pg.url)
            assert {eid: stored.get(eid, 0) for eid in accepted} == dict.fromkeys(accepted, 1)
            assert set(stored) <= set(accepted) | set(failed), "a warning nobody was told about"
            for eid in failed:  # a failure may hide a commit whose answer was lost: retrying is safe
                retried = district.post_warning(server.url, load.body(eid))
                assert retried.status_code == (200 if stored.get(eid) else 201), retried.text
            after = count_warnings(pg.url)
            assert set(after.values()) == {1} and len(after) == len(accepted) + len(failed)

            # The worker's timers fire again, and what they announce reaches the server's users
            # through NOTIFY: both processes' connections (pool and LISTEN) came back.
            case_id = _case_of(pg.url, load.accepted_after(restarted)[-1])
            leader.next_event(lambda e: e["type"] == "case.escalated" and e["case_id"] == case_id)
            leader.close()
            print(  # the drill's figures (pytest -s), recorded in docs/fault-drills.md
                f"\npostgres restart drill: {len(accepted)} accepted, {len(failed)} failed "
                f"({sum(1 for e in failed if stored.get(e))} of them committed), statuses "
                f"{dict(load.statuses)}, broken {dict(load.broken)}, unsent {load.count('unsent')}, "
                f"first 2xx {recovered_in:.2f}s "
                f"after PostgreSQL was back (restart took {restarted - began:.2f}s)"
            )
    finally:
        pg.stop()
