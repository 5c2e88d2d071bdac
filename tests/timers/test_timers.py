"""Timers fire exactly once: with workers racing, and after a worker died mid-transaction."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from quanzu.kit.db import make_engine, make_sessionmaker, transaction
from quanzu.kit.runtime import Runtime
from quanzu.models.timers import Timer
from quanzu.timers import repository
from quanzu.timers.service import Handler, fire_due, schedule
from tests.conftest import Env

N = 300


def _schedule_many(env: Env, n: int = N) -> None:
    with transaction(env.factory) as s:
        for i in range(n):
            schedule(s, "probe", i, env.clock.now() + timedelta(seconds=i % 7), token="t")


def _counting_handler(fired: Counter[int], lock: threading.Lock) -> Handler:
    def handle(session: Session, rt: Runtime, timer: Timer) -> str:
        with lock:
            fired[timer.subject_id] += 1
        return "acted"

    return handle


@pytest.mark.postgres_only
def test_two_workers_racing_fire_each_timer_once(env: Env) -> None:
    _schedule_many(env)
    env.clock.advance(timedelta(seconds=10))
    fired: Counter[int] = Counter()
    lock = threading.Lock()
    handlers = {"probe": _counting_handler(fired, lock)}
    # Two workers, each with its own engine (own connections), as two processes would have.
    engines = [make_engine(env.settings.database_url, pool_size=2) for _ in range(2)]
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        factory = make_sessionmaker(engines[i])
        barrier.wait()
        while fire_due(factory, env.rt, handlers, limit=25):
            pass

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
    assert len(fired) == N and set(fired.values()) == {1}
    with env.reader() as s:
        assert s.scalar(select(func.count()).select_from(Timer).where(Timer.fired_at.is_(None))) == 0


def test_a_worker_that_dies_before_commit_leaves_its_timers_to_the_next(env: Env) -> None:
    _schedule_many(env, 20)
    env.clock.advance(timedelta(seconds=10))
    fired: Counter[int] = Counter()
    handlers = {"probe": _counting_handler(fired, threading.Lock())}
    # The first worker claims and acts, then dies: its transaction never commits.
    dying = env.factory()
    claimed = repository.claim_due(dying, env.clock.now(), 100)
    assert len(claimed) == 20
    for timer in claimed:
        timer.fired_at = env.clock.now()
    if env.is_postgres:
        # While it still holds the rows, another worker skips them rather than firing twice.
        assert fire_due(make_sessionmaker(env.app.state.quanzu.engine), env.rt, handlers) == 0
    dying.rollback()  # the connection drops: PostgreSQL and SQLite both roll back
    dying.close()
    assert fire_due(env.factory, env.rt, handlers) == 20
    assert fire_due(env.factory, env.rt, handlers) == 0
    assert set(fired.values()) == {1} and len(fired) == 20


def test_a_failing_handler_is_retried_and_does_not_block_the_batch(env: Env) -> None:
    _schedule_many(env, 3)
    env.clock.advance(timedelta(seconds=10))
    calls: Counter[int] = Counter()

    def flaky(session: Session, rt: Runtime, timer: Timer) -> str:
        calls[timer.subject_id] += 1
        if timer.subject_id == 1 and calls[1] == 1:
            raise RuntimeError("transient")
        return "acted"

    assert fire_due(env.factory, env.rt, {"probe": flaky}) == 3
    with env.reader() as s:
        pending = s.scalars(select(Timer).where(Timer.fired_at.is_(None))).all()
        assert [(t.subject_id, t.outcome) for t in pending] == [(1, "error: RuntimeError")]
    assert fire_due(env.factory, env.rt, {"probe": flaky}) == 0  # not due again yet
    env.clock.advance(timedelta(seconds=30))
    assert fire_due(env.factory, env.rt, {"probe": flaky}) == 1
    assert calls == Counter({0: 1, 1: 2, 2: 1})


def test_a_failing_handler_leaves_no_audit_entry(env: Env) -> None:
    from quanzu.audit import service as audit
    from quanzu.auth.actor import SYSTEM
    from quanzu.models.audit import AuditEntry

    _schedule_many(env, 2)
    env.clock.advance(timedelta(seconds=10))

    def half_done(session: Session, rt: Runtime, timer: Timer) -> str:
        audit.record(session, rt.clock, SYSTEM, "probe.acted", "probe", timer.subject_id)
        if timer.subject_id == 1:
            raise RuntimeError("after queueing its side effects")
        return "acted"

    assert fire_due(env.factory, env.rt, {"probe": half_done}) == 2
    with env.reader() as s:
        acted = s.scalars(select(AuditEntry.subject_id).where(AuditEntry.action == "probe.acted")).all()
    assert acted == ["0"]
