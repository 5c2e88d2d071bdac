"""Group commit of the screening log (every bank screening call is audited; see `screening`).

A request awaits `record(...)`; one task on the server's event loop writes everything recorded
meanwhile as one statement, so a thousand screening calls cost one commit, not a thousand, and
no caller is answered before its record is durable. If the write fails, every waiting caller
gets the error: an unaudited screening answer is never given.

Why on the event loop and not in a thread: a writer thread has to win the GIL back after every
database round trip from the very event loop that is busy serving the requests waiting for it,
so under load each batch took several times its database time. On PostgreSQL a batch is one
`INSERT … SELECT FROM json_array_elements(…)` in autocommit over a dedicated asynchronous
connection: one round trip. SQLite writes in a thread.

Why two writers on PostgreSQL: with one, a call arriving while a batch commits waits for
that commit to end and then for its own — two WAL flushes. With `PG_WRITERS` connections each
taking whatever is queued when it is free, a call waits for about one flush, and PostgreSQL
flushes the WAL of commits that arrive together once. Four writers made smaller batches and
more commits for no shorter wait (PostgreSQL's CPU per call 10–15 % higher, docs/benchmarks.md).
Commit order no longer follows id order, which sealing allows for: it only seals records
`SEAL_AFTER` old (see `screening`)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from quanzu.audit.screening import Record, new_record
from quanzu.auth.actor import Actor
from quanzu.kit.clock import Clock
from quanzu.kit.db import libpq_url, transaction
from quanzu.models.audit import ScreeningRecord

log = logging.getLogger(__name__)
MAX_BATCH = 2000
PG_WRITERS = 2
# A batch still uncommitted when sealing reaches its ids would be left out of the seal; a write
# that takes this long fails instead (its callers get an error), well within `SEAL_AFTER`.
WRITE_TIMEOUT_MS = 2000
# The batch travels as one JSON array of rows: one C-speed `json.dumps` per batch, where psycopg
# dumping six typed arrays element by element in Python cost more than the rest of the write.
_INSERT = (
    "INSERT INTO screening_log (at, actor, hit, watch_id, detail, row_hash)"
    " SELECT (r->>0)::timestamptz, r->>1, (r->>2)::bool, (r->>3)::int, r->4, r->>5"
    " FROM json_array_elements(%s::json) AS r"
)


@dataclass(frozen=True, slots=True)
class _Pending:
    record: Record
    done: asyncio.Future[None]


class AuditBatcher:
    """Started lazily by the first `record` on the loop that serves requests; `close` at shutdown."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session], clock: Clock) -> None:
        self._engine = engine
        self._factory = factory
        self._clock = clock
        self._queue: asyncio.Queue[_Pending] | None = None
        self._writers: list[_Writer] = []

    async def record(self, actor: Actor, hit: bool, watch_id: int | None, detail: dict[str, Any]) -> None:
        """Returns once the screening record is committed; raises if it could not be."""
        if self._queue is None or any(w.task.done() for w in self._writers):
            await self.close()
            self._queue = self._start_writers()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(new_record(self._clock, actor.label, hit, watch_id, detail), done))
        await done

    async def close(self) -> None:
        for writer in self._writers:
            writer.task.cancel()
            await asyncio.gather(writer.task, return_exceptions=True)
            await writer.disconnect()
        self._writers, self._queue = [], None

    def _start_writers(self) -> asyncio.Queue[_Pending]:
        queue: asyncio.Queue[_Pending] = asyncio.Queue()
        count = PG_WRITERS if self._engine.dialect.name == "postgresql" else 1  # SQLite: one writer
        for n in range(count):
            writer = _Writer()
            writer.task = asyncio.create_task(self._run(queue, writer), name=f"quanzu-screening-log-{n}")
            self._writers.append(writer)
        return queue

    async def _run(self, pending: asyncio.Queue[_Pending], writer: _Writer) -> None:
        while True:
            batch = [await pending.get()]
            while len(batch) < MAX_BATCH and not pending.empty():
                batch.append(pending.get_nowait())
            await self._write(batch, writer)

    async def _write(self, batch: list[_Pending], writer: _Writer) -> None:
        records = [p.record for p in batch]
        try:
            if self._engine.dialect.name == "postgresql":
                await self._insert_batch(records, writer)
            else:
                await asyncio.to_thread(self._insert_in_session, records)
        except Exception as exc:
            log.exception("could not write %d screening records", len(batch))
            await writer.disconnect()  # reconnect for the next batch
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(exc)
            return
        for p in batch:
            if not p.done.done():  # a caller that went away no longer waits
                p.done.set_result(None)

    def _insert_in_session(self, records: list[Record]) -> None:
        with transaction(self._factory) as session:
            session.add_all(ScreeningRecord(**r._asdict()) for r in records)

    async def _insert_batch(self, records: list[Record], writer: _Writer) -> None:
        if writer.pg is None or writer.pg.closed:
            writer.pg = await psycopg.AsyncConnection.connect(
                libpq_url(self._engine), autocommit=True, options=f"-c statement_timeout={WRITE_TIMEOUT_MS}"
            )
        rows = [(r.at.isoformat(), r.actor, r.hit, r.watch_id, r.detail, r.row_hash) for r in records]
        await writer.pg.execute(_INSERT, (json.dumps(rows, ensure_ascii=False, default=str),))


class _Writer:
    """One writing task and, on PostgreSQL, its own connection."""

    task: asyncio.Task[None]
    pg: psycopg.AsyncConnection[Any] | None = None

    async def disconnect(self) -> None:
        if self.pg is not None:
            await self.pg.close()
            self.pg = None
