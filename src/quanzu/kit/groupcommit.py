"""Group commit in the application: the writes that arrive together share one transaction.

A request hands its unit of work (a function of the session) to `GroupCommit.submit` and awaits
it. A writer thread takes everything queued when it is free, runs it in one transaction, commits
once and answers every caller; a second one (up to `writers` per process) starts only for a group
that has waited `backup_after`. Under load the jobs that
arrive while a batch is being written form the next batch, so the per-transaction costs —
checkout, BEGIN, the audit chain's lock and seal, the NOTIFY statement, the commit's WAL flush,
the after-commit hooks — are paid once per batch instead of once per request. A lone job runs
in a transaction of its own at once (a batch of one), so an idle server answers as fast as
before. This is the group commit databases do for their log, done one level up (as
PostgreSQL's `commit_delay` cannot: it only merges flushes, not the work).

- **Nothing is answered before it is durable.** A caller's future is settled after the commit.
- **One bad job never sinks the others.** Jobs rarely fail, so a batch first runs without
  savepoints (two round trips a job). If a job raises, that transaction is rolled back and the
  batch runs again with each job in a savepoint of its own: the failing one is rolled back to
  it, with what it had queued for commit (audit entries, notifications, hooks: `savepoint`), and
  its caller gets its error. If the shared transaction itself fails (the commit, a lost connection,
  a deadlock), every job runs again in a transaction of its own: a job is a function of the
  session, and the jobs are idempotent where it matters (intake's `(source, external_id)`).
- **Two batches never deadlock.** Each job names the advisory lock keys it will take; the batch
  takes all of them at once, sorted, before the first job runs (`hold_advisory_locks`), so the
  jobs' own `advisory_lock` calls find them held.
- **The held keys say what the batch will look up and add.** Nobody else can change what they
  guard until the commit, so intake looks up the whole batch's stored warnings and persons once
  (`kit.db.held_keys`, `batch_notes`); and on PostgreSQL the statement that takes the locks also
  draws the ids of the rows the keys' jobs will add (`kit.db.draw_ids_with_locks`): the batch's
  persons, cases and warnings go in as rows, in one statement with its rows kept back. A lone
  job is a batch of one, with its keys held the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from quanzu.kit.db import hold_advisory_locks, make_sessionmaker, savepoint, transaction

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Refused(Exception):
    """A job of a batch run without savepoints failed."""


@dataclass(slots=True)
class _Job(Generic[T]):
    work: Callable[[Session], T]
    lock_keys: Sequence[str]
    future: asyncio.Future[T] | None = None  # None: a caller in the drain's own thread (`write`)
    loop: asyncio.AbstractEventLoop | None = None
    result: Any = None
    error: BaseException | None = None

    def run(self, session: Session) -> None:
        self.result, self.error = self.work(session), None

    def settle(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._settle_on_loop)

    def _settle_on_loop(self) -> None:
        if self.future is None or self.future.done():  # the caller went away (cancelled)
            return
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.result)


@dataclass
class GroupCommit:
    """One per serving process; `max_batch` bounds how long the last job of a batch waits."""

    factory: sessionmaker[Session]
    max_batch: int = 32
    # Batches written at once. Two on PostgreSQL: with one, a batch waiting for a person's lock
    # (an officer's transaction, the worker) would hold up every warning of the process. One on
    # SQLite, whose writers queue for its one write lock anyway.
    writers: int = 1
    # A writer beyond the first starts only for a group that has waited this long: a stuck batch
    # holds the others up no longer, while under load one writer takes everything queued. Two
    # writers at once halved the batches for nothing (the GIL runs one at a time) and doubled
    # the transactions' fixed cost: p99 at 200/s was 1.5–3 times one writer's (docs/benchmarks.md).
    backup_after: float = 0.2
    _queue: list[list[_Job[Any]]] = field(default_factory=list)  # groups, each written whole
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _active: int = 0  # writers draining now
    _drains: set[asyncio.Future[None]] = field(default_factory=set)
    batches: int = 0  # how many shared transactions committed (tests, benchmarks)

    @classmethod
    def configured(cls, engine: Engine, max_batch: int, writers: int) -> GroupCommit:
        """Intake's, as a serving process and the shared writer run it: `writers` on PostgreSQL,
        one on SQLite (its writers queue for its one write lock anyway)."""
        postgres = engine.dialect.name == "postgresql"
        return cls(make_sessionmaker(engine), max_batch=max_batch, writers=writers if postgres else 1)

    @property
    def queued(self) -> int:
        """Jobs waiting for the next batch."""
        with self._lock:
            return sum(len(group) for group in self._queue)

    async def submit(self, work: Callable[[Session], T], *, lock_keys: Sequence[str] = ()) -> T:
        """Runs `work(session)` in a transaction shared with whatever else is queued; returns its
        result once that transaction has committed, or raises what `work` raised."""
        [answer] = self._enqueue([(work, lock_keys)])
        return await answer

    async def submit_group(
        self, works: Sequence[tuple[Callable[[Session], T], Sequence[str]]]
    ) -> list[T | BaseException]:
        """Works (with their lock keys) written in their order by one writer, `max_batch` to a
        transaction, as a batch call's items about one person must be: each one's result, or what
        it raised."""
        answers = self._enqueue(works)
        return list(await asyncio.gather(*answers, return_exceptions=True))

    def _enqueue(
        self, works: Sequence[tuple[Callable[[Session], T], Sequence[str]]]
    ) -> list[asyncio.Future[T]]:
        loop = asyncio.get_running_loop()
        answers: list[asyncio.Future[T]] = [loop.create_future() for _ in works]
        group = [_Job(work, keys, answer, loop) for (work, keys), answer in zip(works, answers, strict=True)]
        with self._lock:
            self._queue.append(group)
            start = self._active == 0
            self._active += start
            backup = not start and self._active < self.writers
        if start:
            self._start_writer(loop)
        elif backup:
            loop.call_later(self.backup_after, self._start_backup, loop, group)
        return answers

    def _start_backup(self, loop: asyncio.AbstractEventLoop, group: list[_Job[Any]]) -> None:
        """Another writer, if `group` is still waiting (no writer was free to take it)."""
        with self._lock:
            start = any(waiting is group for waiting in self._queue) and self._active < self.writers
            self._active += start
        if start:
            self._start_writer(loop)

    def _start_writer(self, loop: asyncio.AbstractEventLoop) -> None:
        drain = loop.run_in_executor(None, self._drain)
        self._drains.add(drain)  # held, so it is not collected while it runs
        drain.add_done_callback(self._drains.discard)

    def write(self, works: Sequence[tuple[Callable[[Session], T], Sequence[str]]]) -> list[T | Exception]:
        """`submit_group` synchronously, in this thread (imports, benchmarks)."""
        jobs: list[_Job[T]] = [_Job(work, keys) for work, keys in works]
        for chunk in self._transactions(jobs):
            self._write(chunk)
        return [job.error if isinstance(job.error, Exception) else job.result for job in jobs]

    def _drain(self) -> None:
        while batch := self._next_batch():
            for chunk in self._transactions(batch):
                try:
                    self._write(chunk)
                except BaseException as exc:  # never leave a caller waiting
                    log.exception("group commit failed")
                    for job in chunk:
                        job.error = exc
                for job in chunk:
                    job.settle()

    def _transactions(self, batch: list[_Job[Any]]) -> list[list[_Job[Any]]]:
        """A batch (a group larger than `max_batch` comes alone) cut into transactions, in order."""
        return [batch[n : n + self.max_batch] for n in range(0, len(batch), self.max_batch)]

    def _next_batch(self) -> list[_Job[Any]]:
        """Whole groups, in their order, up to `max_batch` jobs (a larger group goes alone)."""
        with self._lock:
            batch: list[_Job[Any]] = []
            while self._queue and (not batch or len(batch) + len(self._queue[0]) <= self.max_batch):
                batch.extend(self._queue.pop(0))
            self._active -= not batch
        return batch

    def _write(self, batch: list[_Job[Any]]) -> None:
        if len(batch) == 1:
            self._alone(batch[0])
            return
        try:
            try:
                self._together(batch, isolated=False)
            except _Refused:  # one job failed and took the others' work with it: again, isolated
                self._together(batch, isolated=True)
            with self._lock:
                self.batches += 1
        except Exception:
            log.warning("a shared transaction of %d jobs failed; writing them one by one", len(batch))
            for job in batch:
                self._alone(job)

    def _together(self, batch: list[_Job[Any]], *, isolated: bool) -> None:
        """All jobs in one transaction. Not isolated, a failing job rolls the whole transaction
        back (`_Refused`): jobs rarely fail, and a savepoint per job costs two round trips."""
        with transaction(self.factory) as session:
            hold_advisory_locks(session, *(key for job in batch for key in job.lock_keys))
            for job in batch:
                if isolated:
                    self._in_savepoint(session, job)
                    continue
                try:
                    job.run(session)
                except Exception as exc:
                    raise _Refused from exc

    def _in_savepoint(self, session: Session, job: _Job[Any]) -> None:
        try:
            with savepoint(session):
                job.run(session)
        except Exception as exc:
            job.error = exc

    def _alone(self, job: _Job[Any]) -> None:
        try:
            with transaction(self.factory) as session:
                # A batch of one: its keys held from the start, its lookups and ids taken at once.
                hold_advisory_locks(session, *job.lock_keys)
                job.run(session)
        except Exception as exc:
            job.error = exc
