"""Group commit (`kit.groupcommit`): warnings that arrive together share one transaction, and
still succeed or fail one by one. On both engines, with the real audit chain as the jobs' write."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import SYSTEM
from quanzu.intake.tabular import import_rows
from quanzu.kit.db import advisory_lock, after_commit, before_commit, hold_advisory_locks, savepoint
from quanzu.kit.errors import Conflict
from quanzu.kit.groupcommit import GroupCommit
from quanzu.models.audit import AuditEntry
from tests.conftest import Env
from tests.factories import bearer, id_number, seed, warning


def _transaction_token(session: Session) -> object:
    """Which session (one per transaction) ran a job: an object kept alive by the results, so two
    sessions never compare equal the way a recycled `id()` could."""
    return session.info.setdefault("test.token", object())


def _audited(env: Env, n: int, *, fail: bool = False) -> Callable[[Session], object]:
    """A job that writes one audit entry (a before-commit hook and a queued list, as intake's
    are), then fails if asked; it answers which session ran it."""

    def job(session: Session) -> object:
        audit.record(session, env.clock, SYSTEM, "test.job", "job", n)
        if fail:
            raise Conflict(f"job {n} refuses")
        return _transaction_token(session)

    return job


def _gated(gate: threading.Event, started: threading.Event) -> Callable[[Session], object]:
    def job(session: Session) -> object:
        started.set()
        gate.wait(timeout=30)
        return _transaction_token(session)

    return job


async def _after_a_held_job(commits: GroupCommit, jobs: list[Callable[[Session], Any]]) -> list[Any]:
    """Queues `jobs` while the drain thread is held inside a first job, so they form one batch."""
    gate, started = threading.Event(), threading.Event()
    first = asyncio.ensure_future(commits.submit(_gated(gate, started)))
    await asyncio.to_thread(started.wait, 30)
    rest = [asyncio.ensure_future(commits.submit(job)) for job in jobs]
    await asyncio.sleep(0)  # let every submission reach the queue before the gate opens
    gate.set()
    await first
    return list(await asyncio.gather(*rest, return_exceptions=True))


def _subjects(env: Env) -> list[str]:
    with env.reader() as s:
        stmt = select(AuditEntry.subject_id).where(AuditEntry.action == "test.job").order_by(AuditEntry.seq)
        return list(s.scalars(stmt))


def test_jobs_that_arrive_together_share_one_transaction(env: Env) -> None:
    commits = GroupCommit(env.factory)
    results = asyncio.run(_after_a_held_job(commits, [_audited(env, n) for n in range(5)]))
    assert commits.batches == 1
    assert len({id(r) for r in results}) == 1  # one session ran all five
    assert _subjects(env) == ["0", "1", "2", "3", "4"]
    with env.reader() as s:
        assert audit.verify(s)[1] == []


def test_a_failing_job_is_rolled_back_alone_with_what_it_queued(env: Env) -> None:
    commits = GroupCommit(env.factory)
    jobs = [_audited(env, n, fail=n == 2) for n in range(5)]
    results = asyncio.run(_after_a_held_job(commits, jobs))
    assert isinstance(results[2], Conflict)
    assert [r for i, r in enumerate(results) if i != 2] == [results[0]] * 4
    assert commits.batches == 1
    assert _subjects(env) == ["0", "1", "3", "4"]  # job 2's audit entry went with its savepoint
    with env.reader() as s:
        assert audit.verify(s)[1] == []


def test_when_the_shared_commit_fails_every_job_is_written_on_its_own(env: Env) -> None:
    poisoned = {"once": True}

    def poison(session: Session) -> None:
        if poisoned.pop("once", False):
            raise RuntimeError("the shared commit fails")

    def job_that_breaks_the_commit(session: Session) -> object:
        before_commit(session, poison)
        return _audited(env, 9)(session)

    commits = GroupCommit(env.factory)
    results = asyncio.run(
        _after_a_held_job(commits, [_audited(env, 1), job_that_breaks_the_commit, _audited(env, 2)])
    )
    assert commits.batches == 0
    assert not any(isinstance(r, BaseException) for r in results)
    assert len({id(r) for r in results}) == 3  # each in a session of its own
    assert _subjects(env) == ["1", "9", "2"]  # once each, in the order they came


def test_a_lone_job_runs_as_a_plain_transaction(env: Env) -> None:
    commits = GroupCommit(env.factory)

    async def one() -> object:
        return await commits.submit(_audited(env, 7))

    asyncio.run(one())
    assert commits.batches == 0
    assert _subjects(env) == ["7"]


@pytest.mark.postgres_only
def test_held_locks_are_not_taken_twice_and_end_with_the_transaction(env: Env) -> None:
    def advisory_locks(session: Session) -> int:
        sql = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        return int(session.connection().exec_driver_sql(sql).scalar_one())

    with env.factory() as session:
        hold_advisory_locks(session, "person:a", "warning:x")
        statements: list[str] = []
        event.listen(session.connection(), "before_cursor_execute", lambda *a: statements.append(a[2]))
        with savepoint(session):  # a job's savepoint, released
            advisory_lock(session, "warning:x", "person:a")
        advisory_lock(session, "person:a")
        assert [s for s in statements if "advisory" in s] == []  # held already: no round trip
        assert advisory_locks(session) == 2
        session.commit()
        assert advisory_locks(session) == 0
        advisory_lock(session, "warning:x")  # a new transaction holds nothing: taken again
        assert advisory_locks(session) == 1
        session.rollback()


def test_warnings_posted_together_are_stored_together(env: Env) -> None:
    """Through the app: a feed's warnings queued behind a held one share a transaction, and
    a replay of a key already in the batch gets the same ids, as if they came one by one."""
    district = seed(env)
    commits: GroupCommit = env.app.state.quanzu.commits
    commits.writers = 1  # the held job keeps the only writer busy while the posts queue
    people = [{"phone": f"1386251000{n}", "id_number": id_number(seq=f"40{n}")} for n in range(4)]
    bodies = [warning(f"G-{n}", target=people[n]) for n in range(4)] + [warning("G-1", target=people[1])]

    async def post_all() -> list[Any]:
        import httpx

        transport = httpx.ASGITransport(app=env.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            gate, started = threading.Event(), threading.Event()
            held = asyncio.ensure_future(commits.submit(_gated(gate, started)))
            await asyncio.to_thread(started.wait, 30)
            posts = [
                asyncio.ensure_future(
                    client.post("/api/v1/warnings", json=b, headers=bearer(district.feed_token))
                )
                for b in bodies
            ]
            while commits.queued < len(bodies):  # every post parsed and queued
                await asyncio.sleep(0.001)
            gate.set()
            await held
            return list(await asyncio.gather(*posts))

    responses = asyncio.run(post_all())
    assert [responses[n].status_code for n in (0, 2, 3)] == [201, 201, 201]
    assert sorted(responses[n].status_code for n in (1, 4)) == [200, 201]  # whichever queued first
    assert responses[4].json() == responses[1].json()
    assert commits.batches == 1


class _Bell:
    rung = 0

    def ring(self) -> None:
        self.rung += 1


def test_a_batch_wakes_the_worker_once_and_only_after_it_commits(env: Env) -> None:
    bell = _Bell()

    def job(n: int) -> Callable[[Session], object]:
        def waking(session: Session) -> object:
            after_commit(session, bell.ring)
            assert bell.rung == 0  # nothing rings before the commit
            return _audited(env, n)(session)

        return waking

    commits = GroupCommit(env.factory)
    asyncio.run(_after_a_held_job(commits, [job(n) for n in range(4)]))
    assert commits.batches == 1
    assert bell.rung == 1


def test_a_spreadsheet_is_stored_a_group_at_a_time_and_each_row_answers_for_itself(env: Env) -> None:
    """Rows 2–5 valid, one of them a conflicting replay of a stored warning (refused when it is
    written, in the middle of its group) and row 6 invalid: the report keeps the sheet's order."""
    district = seed(env)
    stored = warning("S-0", target={"phone": "13862519000", "id_number": id_number(seq="500")})
    assert (
        env.client.post("/api/v1/warnings", json=stored, headers=bearer(district.feed_token)).status_code
        == 201
    )
    people = [{"phone": f"1386251900{n}", "id_number": id_number(seq=f"50{n}")} for n in range(1, 4)]
    sheet: list[dict[str, Any]] = [
        _row("S-1", people[0]),
        _row("S-0", people[1]),  # the stored key with other content: 409
        _row("S-2", people[2]),
        _row("S-1", people[0]),  # a replay of row 2 in the same group: 200, same case
        {"外部编号": "S-9", "来源": "hotline", "手机号": "123"},
    ]
    results = import_rows(env.factory, env.rt, sheet, default_source="hotline")
    assert [r.row for r in results] == [2, 3, 4, 5, 6]
    assert [r.status for r in results[:4]] == [201, None, 201, 200]
    assert results[1].errors and "different content" in results[1].errors[0].message
    assert results[3].case_id == results[0].case_id
    assert results[4].errors and "target.phone" in [e.field for e in results[4].errors]


def _row(external_id: str, person: dict[str, str]) -> dict[str, Any]:
    return {
        "外部编号": external_id,
        "来源": "national",
        "预警时间": "2026-11-28T10:00:00+08:00",
        "姓名": "李四",
        "手机号": person["phone"],
        "身份证号": person["id_number"],
        "地址": "江苏省苏州市吴江区震泽镇宝塔街1号",
        "诈骗类型": "investment",
        "风险等级": "high",
    }


def test_what_arrives_while_the_writer_is_busy_waits_for_it_and_goes_in_one_batch(env: Env) -> None:
    """A second writer is only a backup for a stuck one: jobs that wait less than `backup_after`
    are the first writer's next batch."""
    commits = GroupCommit(env.factory, writers=2, backup_after=60)

    async def scenario() -> list[object]:
        gate, started = threading.Event(), threading.Event()
        held = asyncio.ensure_future(commits.submit(_gated(gate, started)))
        await asyncio.to_thread(started.wait, 30)
        queued = [asyncio.ensure_future(commits.submit(_audited(env, n))) for n in (1, 2, 3)]
        while commits.queued < 3:
            await asyncio.sleep(0.001)
        gate.set()
        await held
        return list(await asyncio.gather(*queued))

    tokens = asyncio.run(scenario())
    assert len({id(t) for t in tokens}) == 1  # one transaction: no second writer took any
    assert _subjects(env) == ["1", "2", "3"]


def test_a_second_writer_takes_what_waits_while_the_first_is_stuck(env: Env) -> None:
    commits = GroupCommit(env.factory, writers=2)

    async def scenario() -> list[object]:
        gate, started = threading.Event(), threading.Event()
        held = asyncio.ensure_future(commits.submit(_gated(gate, started)))
        await asyncio.to_thread(started.wait, 30)
        answered = await asyncio.wait_for(commits.submit(_audited(env, 1)), timeout=30)  # not stuck
        gate.set()
        return [await held, answered]

    held, answered = asyncio.run(scenario())
    assert held is not answered  # two transactions
    assert _subjects(env) == ["1"]


def test_a_group_is_written_whole_and_in_order(env: Env) -> None:
    """A batch call's items go as one group: never split between two transactions, nor mixed in
    out of order; a batch takes whole groups up to its size."""
    commits = GroupCommit(env.factory, max_batch=3)

    async def scenario() -> tuple[object, list[object], object]:
        gate, started = threading.Event(), threading.Event()
        held = asyncio.ensure_future(commits.submit(_gated(gate, started)))
        await asyncio.to_thread(started.wait, 30)
        alone = asyncio.ensure_future(commits.submit(_audited(env, 1)))
        group = asyncio.ensure_future(commits.submit_group([(_audited(env, n), ()) for n in (2, 3, 4)]))
        last = asyncio.ensure_future(commits.submit(_audited(env, 5)))
        while commits.queued < 5:
            await asyncio.sleep(0.001)
        gate.set()
        await held
        return await alone, await group, await last

    alone, group, last = asyncio.run(scenario())
    assert len({id(t) for t in group}) == 1  # the three in one transaction
    assert alone is not group[0] and last is not group[0]  # 1 + 3 and 3 + 1 would exceed 3
    assert _subjects(env) == ["1", "2", "3", "4", "5"]


def test_a_group_larger_than_a_batch_is_written_a_batch_at_a_time_in_order(env: Env) -> None:
    commits = GroupCommit(env.factory, max_batch=3)
    tokens = commits.write([(_audited(env, n), ()) for n in range(5)])
    assert len({id(t) for t in tokens[:3]}) == 1 and len({id(t) for t in tokens[3:]}) == 1
    assert tokens[0] is not tokens[3]
    assert _subjects(env) == ["0", "1", "2", "3", "4"]
