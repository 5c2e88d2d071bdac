"""Fault drill: `quanzu ingest nats` killed with SIGKILL in the middle of the stream, then started
again. Every valid warning is stored exactly once, every invalid one is dead-lettered exactly once,
and nothing is left unacknowledged. Progress is observed by polling the database within deadlines;
nothing waits a fixed time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from quanzu.models.cases import Case, EarlyWarning
from quanzu.streams.jetstream import JetStreamConfig
from tests.conftest import TEST_PII_KEY, Env
from tests.factories import seed, warning
from tests.streams.conftest import consumer_state, dead_letters, publish
from tests.streams.test_ingest import person

VALID = 240
INVALID = 6
PROGRESS_DEADLINE_S = 90.0
DRAIN_DEADLINE_S = 180.0


def start_consumer(env: Env, config: JetStreamConfig, tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUANZU_")}
    environ.update(
        QUANZU_DATABASE_URL=env.settings.database_url,
        QUANZU_PII_KEY=TEST_PII_KEY,
        QUANZU_DATA_DIR=str(tmp_path),
    )
    cmd = [str(Path(sys.executable).parent / "quanzu"), "ingest", "nats", "--client", "national-feed"]
    cmd += ["--url", config.url, "--stream", config.stream, "--subject", config.subject]
    cmd += ["--durable", config.durable, "--dead-subject", config.dead_subject]
    cmd += ["--ack-wait", str(config.ack_wait_s), "--batch", "20", *extra]
    log = (tmp_path / "consumer.log").open("ab")
    return subprocess.Popen(cmd, env=environ, stdout=log, stderr=subprocess.STDOUT)


def stored(env: Env) -> int:
    with env.reader() as s:
        return int(s.scalar(select(func.count()).select_from(EarlyWarning)) or 0)


def wait_for(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polling interval, not a timing assertion


@pytest.mark.postgres_only
def test_consumer_killed_mid_stream_loses_and_duplicates_nothing(
    env: Env, jetstream: JetStreamConfig, tmp_path: Path
) -> None:
    seed(env)
    bodies: list[object] = [warning(f"K-{i}", target=person(i)) for i in range(VALID)]
    for i in range(INVALID):  # spread through the stream: some land in the killed batch's neighbourhood
        bodies.insert(40 * i + 7, warning(f"BAD-{i}", risk_level="catastrophic"))
    publish(jetstream, bodies)

    first = start_consumer(env, jetstream, tmp_path)
    try:
        wait_for(lambda: stored(env) >= 30 or first.poll() is not None, PROGRESS_DEADLINE_S, "first commits")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = stored(env)
    assert first.returncode == -signal.SIGKILL
    assert 0 < at_kill < VALID, "the kill must land mid-stream"
    left = consumer_state(jetstream)
    assert (left.num_pending or 0) + (left.num_ack_pending or 0) > 0

    # The restarted consumer gets the rest, and the killed batch again once its ack wait expires.
    second = start_consumer(env, jetstream, tmp_path, "--idle-exit", str(3 * jetstream.ack_wait_s))
    try:
        assert second.wait(timeout=DRAIN_DEADLINE_S) == 0
    finally:
        if second.poll() is None:
            second.kill()

    with env.reader() as s:
        keys = s.execute(
            select(EarlyWarning.external_id, func.count()).group_by(EarlyWarning.external_id)
        ).all()
        assert len(keys) == VALID and all(n == 1 for _, n in keys)
        assert {k for k, _ in keys} == {f"K-{i}" for i in range(VALID)}
        assert s.scalar(select(func.count()).select_from(Case)) == VALID
        assert s.scalar(select(func.max(Case.signal_count))) == 1  # no replay counted as a new signal
    dead = dead_letters(jetstream)
    assert sorted(d.key for d in dead) == sorted({d.key for d in dead}) and len(dead) == INVALID
    assert all(d.status == 422 and d.errors[0]["field"] == "risk_level" for d in dead)
    state = consumer_state(jetstream)
    assert state.num_pending == 0 and state.num_ack_pending == 0
