"""The screening log's group commit: every record committed before its caller returns."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from quanzu.audit.batcher import AuditBatcher
from quanzu.auth.actor import SYSTEM
from quanzu.models.audit import ScreeningRecord
from quanzu.web.edge import AppState
from tests.conftest import Env


async def _record_all(batcher: AuditBatcher) -> None:
    await asyncio.gather(
        batcher.record(SYSTEM, True, 7, {"kinds": ["phone"]}),
        *(batcher.record(SYSTEM, False, None, {"kinds": ["account"]}) for _ in range(5)),
    )
    await batcher.close()


def test_every_record_is_committed_before_the_caller_returns(env: Env) -> None:
    state: AppState = env.app.state.quanzu
    batcher = AuditBatcher(state.engine, env.factory, env.clock)
    asyncio.run(_record_all(batcher))
    with env.reader() as s:
        rows = list(s.scalars(select(ScreeningRecord).order_by(ScreeningRecord.id)))
    assert sorted(r.hit for r in rows) == [False] * 5 + [True]
    assert all(len(r.row_hash) == 64 for r in rows)
