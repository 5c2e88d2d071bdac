"""Drill: `kill -9` the shared writer in the middle of a burst. `quanzu serve --workers 2` on
PostgreSQL writes its processes' warnings through one writer process (`kit/writer.py`). When it
dies, the serving processes write the warnings themselves, and those it took but never answered
again, as replays: the clients see no failure at all, every warning is stored once, and the
server starts a new writer."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.faults.cluster import Proc, count_warnings, deployment, shared_database, wait_for
from tests.faults.load import IntakeLoad

pytestmark = pytest.mark.postgres_only
ACCEPTED_EACH_TIME = 40


def _writer(server: Proc, other_than: int = 0) -> int:
    """The pid of the server's writer process, if it has one and it is not `other_than`; else 0."""
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # not a process, or gone meanwhile
        if parent == server.popen.pid and b"writer" in argv and int(entry.name) != other_than:
            return int(entry.name)
    return 0


def test_a_writer_killed_mid_burst_costs_the_clients_nothing(tmp_path: Path) -> None:
    with shared_database() as url, deployment(url, tmp_path) as district:
        server = district.serve("serve", workers=2)
        first = wait_for("the writer", lambda: _writer(server))
        load = IntakeLoad(district, "KW", threads=8, stop_on_failure=True)
        load.start(server.url)
        wait_for("a share of the burst", lambda: load.count("ok") >= ACCEPTED_EACH_TIME)
        os.kill(first, signal.SIGKILL)
        second = wait_for("a new writer", lambda: _writer(server, other_than=first))
        accepted = load.count("ok")
        wait_for("more of the burst", lambda: load.count("ok") >= accepted + ACCEPTED_EACH_TIME)
        load.stop()
        assert load.count("ok") == len(load.outcomes), (load.statuses, load.broken, server.tail())
        # New warnings are 201; a 200 is one the writer committed and never answered, written
        # again by the serving process as the replay it is.
        assert set(load.statuses) <= {200, 201} and load.statuses[200] <= load.threads
        stored = count_warnings(url)
        assert stored == dict.fromkeys(load.ids("ok"), 1)
        server.stop()
        assert not Path(f"/proc/{second}").exists()  # the writer stops with the server
