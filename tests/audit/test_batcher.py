"""The screening log's group commit: every record committed before its caller returns; on
PostgreSQL a hit's record flushed to disk first, a miss's committed asynchronously."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from quanzu.audit.batcher import AuditBatcher
from quanzu.auth.actor import SYSTEM
from quanzu.models.audit import ScreeningRecord
from quanzu.web.edge import AppState
from tests.conftest import Env


async def _record_and_inspect(batcher: AuditBatcher, postgres: bool) -> dict[bool, set[str]]:
    await asyncio.gather(
        batcher.record(SYSTEM, True, 7, {"kinds": ["phone"]}),
        *(batcher.record(SYSTEM, False, None, {"kinds": ["account"]}) for _ in range(5)),
    )
    commit_modes: dict[bool, set[str]] = {True: set(), False: set()}
    for writer in batcher._writers if postgres else ():
        if writer.pg is not None:
            row = await (await writer.pg.execute("SHOW synchronous_commit")).fetchone()
            assert row is not None
            commit_modes[writer.durable].add(str(row[0]))
    await batcher.close()
    return commit_modes


def test_every_record_is_committed_before_the_caller_returns(env: Env) -> None:
    state: AppState = env.app.state.quanzu
    batcher = AuditBatcher(state.engine, env.factory, env.clock)
    modes = asyncio.run(_record_and_inspect(batcher, env.is_postgres))
    with env.reader() as s:
        rows = list(s.scalars(select(ScreeningRecord).order_by(ScreeningRecord.id)))
    assert sorted(r.hit for r in rows) == [False] * 5 + [True]
    assert all(len(r.row_hash) == 64 for r in rows)
    if env.is_postgres:
        # Hits wait for the WAL flush; misses do not (and only misses are written that way).
        assert modes[True] == {"on"} and modes[False] == {"off"}


@pytest.mark.postgres_only
def test_hits_and_misses_never_share_a_writer(env: Env) -> None:
    state: AppState = env.app.state.quanzu
    batcher = AuditBatcher(state.engine, env.factory, env.clock)

    async def go() -> None:
        await batcher.record(SYSTEM, False, None, {})
        assert {w.durable for w in batcher._writers} == {True, False}
        queues = batcher._queues
        assert queues[True] is not queues[False]
        await batcher.close()

    asyncio.run(go())
