"""Drill: `kill -9` a server in the middle of a burst of intake requests. Every warning a client
was told was accepted (2xx) is in the database exactly once; nothing the server refused or never
received is; a request cut off by the kill is there at most once, and its retry on the restarted
server is answered 200/201 without creating a second one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.cluster import count_warnings, deployment, shared_database, wait_for
from tests.faults.load import IntakeLoad

pytestmark = pytest.mark.postgres_only
ACCEPTED_BEFORE_KILL = 40


def test_a_server_killed_mid_burst_loses_no_accepted_warning_and_duplicates_none(tmp_path: Path) -> None:
    with shared_database() as url, deployment(url, tmp_path) as district:
        first = district.serve("serve-1")
        load = IntakeLoad(district, "K9", threads=8, stop_on_failure=True)
        load.start(first.url)
        wait_for("a share of the burst to be accepted", lambda: load.count("ok") >= ACCEPTED_BEFORE_KILL)
        first.kill9()
        load.stop()  # every thread stops at its first failed request
        accepted, in_flight = load.ids("ok"), load.ids("in_flight")
        stored = count_warnings(url)
        assert {eid: stored.get(eid, 0) for eid in accepted} == dict.fromkeys(accepted, 1)
        assert set(stored) <= set(accepted) | set(in_flight), "a warning nobody was told about"
        assert all(stored.get(eid, 0) <= 1 for eid in in_flight)

        second = district.serve("serve-2")
        for eid in in_flight:  # the client's retry after the restart
            retried = district.post_warning(second.url, load.body(eid))
            assert retried.status_code == (200 if stored.get(eid) else 201), retried.text
        for eid in accepted[:5]:
            assert district.post_warning(second.url, load.body(eid)).status_code == 200
        after = count_warnings(url)
        assert {eid: after.get(eid, 0) for eid in accepted + in_flight} == dict.fromkeys(
            accepted + in_flight, 1
        )
        assert sum(after.values()) == len(accepted) + len(in_flight)
        committed = sum(1 for e in in_flight if stored.get(e))
        print(  # the drill's figures (pytest -s), recorded in docs/fault-drills.md
            f"\nkill -9 drill: {len(accepted)} accepted, {len(in_flight)} in flight at the kill "
            f"({committed} of them committed), statuses {dict(load.statuses)}, broken {dict(load.broken)}"
        )
