"""Group commit for high-rate audit entries (every bank screening call is audited).

A request awaits `record(...)`; one task on the server's event loop writes everything recorded
meanwhile in one transaction, so a thousand screening calls cost one commit, not a thousand, and
no caller is answered before its entry is durable. If the write fails, every waiting caller gets
the error: an unaudited screening answer is never given.

Why on the event loop and not in a thread: a writer thread has to win the GIL back after every
database round trip from the very event loop that is busy serving the requests waiting for it,
so under load each batch took several times its database time. On PostgreSQL the batch goes
over a dedicated asynchronous connection in pipeline mode: two round trips per batch (lock the
chain and read its head; insert and commit), whatever its size. SQLite writes in a thread."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from quanzu.audit import service as audit
from quanzu.audit.repository import GENESIS
from quanzu.auth.actor import Actor
from quanzu.kit.clock import Clock
from quanzu.kit.db import advisory_key, libpq_url, transaction

log = logging.getLogger(__name__)
MAX_BATCH = 2000
_LOCK_AND_HEAD = (
    "SELECT pg_advisory_xact_lock(%s),"
    " (SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1),"
    " (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1)"
)
# One statement for the whole batch (arrays unnested server-side), not a statement per row.
_INSERT = (
    "INSERT INTO audit_log (seq, at, actor, action, subject_type, subject_id, detail, prev_hash, hash)"
    " SELECT * FROM unnest(%s::int[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::json[], %s::text[], %s::text[])"
)


@dataclass(frozen=True, slots=True)
class _Entry:
    actor: Actor
    action: str
    subject_type: str
    subject_id: object
    detail: dict[str, Any]
    done: asyncio.Future[None]


class AuditBatcher:
    """Started lazily by the first `record` on the loop that serves requests; `close` at shutdown."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session], clock: Clock) -> None:
        self._engine = engine
        self._factory = factory
        self._clock = clock
        self._queue: asyncio.Queue[_Entry] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pg: psycopg.AsyncConnection[Any] | None = None

    async def record(
        self, actor: Actor, action: str, subject_type: str, subject_id: object, detail: dict[str, Any]
    ) -> None:
        """Returns once the entry is committed; raises if it could not be."""
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(self._queue), name="quanzu-audit-batcher")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Entry(actor, action, subject_type, subject_id, detail, done))
        await done

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._pg is not None:
            await self._pg.close()
            self._pg = None

    async def _run(self, pending: asyncio.Queue[_Entry]) -> None:
        while True:
            batch = [await pending.get()]
            while len(batch) < MAX_BATCH and not pending.empty():
                batch.append(pending.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[_Entry]) -> None:
        try:
            if self._engine.dialect.name == "postgresql":
                await self._write_pipelined(batch)
            else:
                await asyncio.to_thread(self._write_in_session, batch)
        except Exception as exc:
            log.exception("could not write %d audit entries", len(batch))
            if self._pg is not None:
                await self._pg.close()
                self._pg = None  # reconnect for the next batch
            for e in batch:
                if not e.done.done():
                    e.done.set_exception(exc)
            return
        for e in batch:
            if not e.done.done():  # a caller that went away no longer waits
                e.done.set_result(None)

    def _write_in_session(self, batch: list[_Entry]) -> None:
        with transaction(self._factory) as session:
            for e in batch:
                audit.record(session, self._clock, e.actor, e.action, e.subject_type, e.subject_id, e.detail)

    async def _write_pipelined(self, batch: list[_Entry]) -> None:
        if self._pg is None or self._pg.closed:
            self._pg = await psycopg.AsyncConnection.connect(libpq_url(self._engine))
        conn = self._pg
        async with conn.pipeline(), conn.transaction(), conn.cursor() as cur:
            await cur.execute(_LOCK_AND_HEAD, (advisory_key("audit-chain"),))
            head = await cur.fetchone()
            seq, prev_hash = (head[1], head[2]) if head and head[1] is not None else (0, GENESIS)
            columns: list[list[Any]] = [[] for _ in range(9)]
            for e in batch:
                seq += 1
                at, actor, subject_id = self._clock.now(), e.actor.label, str(e.subject_id)
                digest = audit.chain_hash(
                    seq, at, actor, e.action, e.subject_type, subject_id, e.detail, prev_hash
                )
                row = (
                    seq,
                    at,
                    actor,
                    e.action,
                    e.subject_type,
                    subject_id,
                    Json(e.detail),
                    prev_hash,
                    digest,
                )
                for column, value in zip(columns, row, strict=True):
                    column.append(value)
                prev_hash = digest
            await cur.execute(_INSERT, columns)
