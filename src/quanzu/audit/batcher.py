"""Group commit of the screening log (every bank screening call is audited; see `screening`).

A request awaits `record(...)`; one task on the server's event loop writes everything recorded
meanwhile as one statement, so a thousand screening calls cost one commit, not a thousand, and
no caller is answered before its record is durable. If the write fails, every waiting caller
gets the error: an unaudited screening answer is never given.

Why on the event loop and not in a thread: a writer thread has to win the GIL back after every
database round trip from the very event loop that is busy serving the requests waiting for it,
so under load each batch took several times its database time. On PostgreSQL a batch is one
`INSERT … SELECT FROM unnest(…)` in autocommit over a dedicated asynchronous connection: one
round trip. SQLite writes in a thread."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from quanzu.audit.screening import new_record
from quanzu.auth.actor import Actor
from quanzu.kit.clock import Clock
from quanzu.kit.db import libpq_url, transaction
from quanzu.models.audit import ScreeningRecord

log = logging.getLogger(__name__)
MAX_BATCH = 2000
_INSERT = (
    "INSERT INTO screening_log (at, actor, hit, watch_id, detail, row_hash)"
    " SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::bool[], %s::int[], %s::json[], %s::text[])"
)


@dataclass(frozen=True, slots=True)
class _Pending:
    record: ScreeningRecord
    done: asyncio.Future[None]


class AuditBatcher:
    """Started lazily by the first `record` on the loop that serves requests; `close` at shutdown."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session], clock: Clock) -> None:
        self._engine = engine
        self._factory = factory
        self._clock = clock
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pg: psycopg.AsyncConnection[Any] | None = None

    async def record(self, actor: Actor, hit: bool, watch_id: int | None, detail: dict[str, Any]) -> None:
        """Returns once the screening record is committed; raises if it could not be."""
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(self._queue), name="quanzu-screening-log")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(new_record(self._clock, actor.label, hit, watch_id, detail), done))
        await done

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._pg is not None:
            await self._pg.close()
            self._pg = None

    async def _run(self, pending: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = [await pending.get()]
            while len(batch) < MAX_BATCH and not pending.empty():
                batch.append(pending.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        records = [p.record for p in batch]
        try:
            if self._engine.dialect.name == "postgresql":
                await self._insert_unnested(records)
            else:
                await asyncio.to_thread(self._insert_in_session, records)
        except Exception as exc:
            log.exception("could not write %d screening records", len(batch))
            if self._pg is not None:
                await self._pg.close()
                self._pg = None  # reconnect for the next batch
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(exc)
            return
        for p in batch:
            if not p.done.done():  # a caller that went away no longer waits
                p.done.set_result(None)

    def _insert_in_session(self, records: list[ScreeningRecord]) -> None:
        with transaction(self._factory) as session:
            session.add_all(records)

    async def _insert_unnested(self, records: list[ScreeningRecord]) -> None:
        if self._pg is None or self._pg.closed:
            self._pg = await psycopg.AsyncConnection.connect(libpq_url(self._engine), autocommit=True)
        columns = (
            [r.at for r in records],
            [r.actor for r in records],
            [r.hit for r in records],
            [r.watch_id for r in records],
            [Json(r.detail) for r in records],
            [r.row_hash for r in records],
        )
        await self._pg.execute(_INSERT, columns)
