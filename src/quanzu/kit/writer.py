"""One writer for all serving processes: their group commits pooled in a process of its own.

A serving process's group commit (`kit.groupcommit`) writes together the jobs that arrive
together. With two serving processes each sees half the traffic, so at 200 warnings/s most
batches held one warning, and each paid a transaction's fixed cost: the locks, the lookups, the
rows kept back, the audit seal and the commit, about as much again as the warning's own work
(docs/benchmarks.md). One serving process would batch twice as much, but its one GIL would queue
the HTTP work behind the writes. So `quanzu serve --workers N` starts one writer process
(`quanzu writer`) beside its N serving processes: they parse, authenticate and answer; it runs
every process's jobs through one group commit.

- **A job is data.** It crosses the process boundary pickled: a `Job` holds what it needs (a
  validated warning, the caller) and runs with the writer's own session and `Runtime`.
- **Only idempotent jobs go there.** A connection lost after the writer committed leaves the
  caller not knowing; the serving process then runs the job itself, which must answer as a retry
  would (intake's `(source, external_id)`: the same ids, never a second warning).
- **The writer is an optimisation, never a dependency.** A serving process that cannot reach it
  (not started yet, restarting, gone) writes in its own group commit, and tries the writer again
  after `RETRY_AFTER`.
- **The socket is the trust boundary.** Pickles are code; the socket lives in a directory only
  the server's user can enter, is itself mode 0600, and the writer refuses a peer of another user
  (`SO_PEERCRED`), as PostgreSQL's peer authentication does.
- **After-commit effects reach every process.** The writer's runtime has no live hub or screening
  index of its own: what it commits is announced with an empty origin (`pg_notify`), which every
  serving process applies, as it does for the worker's.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import uvloop
from sqlalchemy.orm import Session

from quanzu.kit.clock import Clock
from quanzu.kit.groupcommit import GroupCommit
from quanzu.kit.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
# How long a serving process writes alone after failing to reach the writer.
RETRY_AFTER = timedelta(seconds=1)
_HEADER = struct.Struct("!I")
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


class Job(Protocol[T_co]):
    """A unit of work that can run in another process: picklable, idempotent on rerun."""

    @property
    def lock_keys(self) -> Sequence[str]: ...

    def run(self, session: Session, rt: Runtime) -> T_co: ...


class WriterUnavailable(Exception):
    """The writer could not be reached, or the connection was lost before it answered."""


class _Unpicklable(Exception):
    """What a job raised could not travel back: its type and message, as a 500."""


def _run(job: Job[T], rt: Runtime, session: Session) -> T:
    return job.run(session, rt)


def works(jobs: Sequence[Job[T]], rt: Runtime) -> list[tuple[Any, Sequence[str]]]:
    """The jobs as a group commit takes them, run with `rt`."""
    return [(functools.partial(_run, job, rt), job.lock_keys) for job in jobs]


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return pickle.loads(await reader.readexactly(size))  # noqa: S301  (a peer of our own user: see above)


def _frame(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def _portable(outcome: Any) -> Any:
    """An outcome as it can travel: an exception that does not pickle becomes `_Unpicklable`."""
    if not isinstance(outcome, BaseException):
        return outcome
    try:
        pickle.loads(pickle.dumps(outcome))  # noqa: S301  (our own bytes)
    except Exception:
        return _Unpicklable(f"{type(outcome).__name__}: {outcome}")
    return outcome


@dataclass
class WriterServer:
    """The writer's side: jobs from every serving process into one group commit."""

    commits: GroupCommit
    rt: Runtime
    path: Path
    jobs: int = 0  # jobs answered (tests)
    _server: asyncio.AbstractServer | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _connections: dict[asyncio.StreamWriter, asyncio.Event] = field(default_factory=dict)  # → closed

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)  # a socket left by a writer that died
        old_umask = os.umask(0o177)  # created 0600: no window in which another user may connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old_umask)

    async def close(self) -> None:
        """Stops taking connections and waits for the jobs already taken to be answered."""
        if self._server is not None:
            self._server.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._connections:
            writer.close()
        await asyncio.gather(*(closed.wait() for closed in self._connections.values()))
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if not _same_user(sock):
            log.warning("writer: refused a connection from another user")
            writer.close()
            return
        lock = asyncio.Lock()
        closed = self._connections[writer] = asyncio.Event()
        try:
            while True:
                request_id, jobs = await _read_frame(reader)
                task = asyncio.create_task(self._answer(writer, lock, request_id, jobs))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the serving process went away; its jobs still commit and are answered into the void
        except Exception:  # a request it cannot read (another version's class?): the peer writes it
            log.exception("writer: a request could not be read; closing that connection")
        finally:
            writer.close()
            del self._connections[writer]
            closed.set()

    async def _answer(
        self, writer: asyncio.StreamWriter, lock: asyncio.Lock, request_id: int, jobs: list[Job[Any]]
    ) -> None:
        outcomes = await self.commits.submit_group(works(jobs, self.rt))
        self.jobs += len(jobs)
        frame = _frame((request_id, [_portable(o) for o in outcomes]))
        async with lock:  # frames whole, one after another
            try:
                writer.write(frame)
                await writer.drain()
            except ConnectionError:
                log.warning("writer: a serving process went away before its answer")


def _same_user(sock: socket.socket | None) -> bool:
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return sock is not None
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    uid: int = _PEERCRED.unpack(credentials)[1]
    return uid == os.getuid()


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pending: dict[int, asyncio.Future[list[Any]]] = field(default_factory=dict)  # by request id
    listening: asyncio.Task[None] | None = None


@dataclass
class WriterClient:
    """A serving process's connection to the writer: requests multiplexed on one socket."""

    path: Path
    clock: Clock
    _connection: _Connection | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _connecting: asyncio.Lock = field(default_factory=asyncio.Lock)
    _retry_at: datetime | None = None

    async def submit(self, jobs: Sequence[Job[Any]]) -> list[Any]:
        """The jobs' outcomes (results, or what they raised), or `WriterUnavailable`."""
        connection = await self._connected()
        request_id = next(self._ids)
        answer: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        connection.pending[request_id] = answer
        try:
            connection.writer.write(_frame((request_id, list(jobs))))
            await connection.writer.drain()
        except (ConnectionError, RuntimeError):
            self._lost(connection)
        return await answer

    async def _connected(self) -> _Connection:
        async with self._connecting:
            if self._connection is not None:
                return self._connection
            if self._retry_at is not None and self.clock.now() < self._retry_at:
                raise WriterUnavailable("not reachable a moment ago")
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.path))
            except OSError as exc:
                self._retry_at = self.clock.now() + RETRY_AFTER
                log.warning("the shared writer is not reachable (%s); writing here", exc)
                raise WriterUnavailable(str(exc)) from exc
            connection = self._connection = _Connection(reader, writer)
            connection.listening = asyncio.create_task(self._listen(connection))
            return connection

    async def _listen(self, connection: _Connection) -> None:
        try:
            while True:
                request_id, outcomes = await _read_frame(connection.reader)
                answer = connection.pending.pop(request_id, None)
                if answer is not None and not answer.done():
                    answer.set_result(outcomes)
        except Exception:  # closed, or an answer that cannot be read: the requests are written here
            self._lost(connection)

    def _lost(self, connection: _Connection) -> None:
        """Every request in flight on `connection` learns the writer is gone; the next reconnects."""
        if self._connection is connection:
            log.warning("lost the connection to the shared writer; writing here meanwhile")
            self._connection = None
        connection.writer.close()
        pending, connection.pending = connection.pending, {}
        for answer in pending.values():
            if not answer.done():
                answer.set_exception(WriterUnavailable("the connection to the writer was lost"))

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            if connection.listening is not None:
                connection.listening.cancel()
            self._lost(connection)  # what is still in flight is written here


@dataclass
class Writes:
    """Where a serving process's idempotent jobs are written: the shared writer if there is one
    and it answers, else this process's own group commit."""

    local: GroupCommit
    rt: Runtime
    remote: WriterClient | None = None

    async def one(self, job: Job[T]) -> T:
        [outcome] = await self.group([job])
        if isinstance(outcome, BaseException):
            raise outcome
        result: T = outcome
        return result

    async def group(self, jobs: Sequence[Job[T]]) -> list[T | BaseException]:
        """Each job's result or what it raised, written in their order."""
        if self.remote is not None:
            try:
                return await self.remote.submit(jobs)
            except WriterUnavailable:
                pass  # written here, as a retry would be
        return await self.local.submit_group(works(jobs, self.rt))


async def _until_orphaned(stop: asyncio.Event) -> None:
    """Stops the writer if the process that started it dies without stopping it (`kill -9`):
    it would otherwise keep a socket nobody uses."""
    parent = os.getppid()
    while parent != 1 and os.getppid() == parent:
        await asyncio.sleep(1.0)
    if parent != 1:
        log.warning("writer: the server that started it is gone; stopping")
        stop.set()


def serve_forever(server: WriterServer, on_start: Callable[[], None] | None = None) -> None:
    """Runs the writer until SIGTERM or SIGINT, then answers what it took and stops."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await server.start()
        if on_start is not None:
            on_start()
        log.info("writer: taking jobs at %s", server.path)
        orphaned = asyncio.create_task(_until_orphaned(stop))
        await stop.wait()
        orphaned.cancel()
        await server.close()

    uvloop.run(main())


class WriterProcess:
    """`quanzu serve`'s writer: started with the server, started again if it dies (the serving
    processes write alone meanwhile), and stopped last, after it has answered what it took."""

    def __init__(self, argv: list[str], restart_pause_s: float = 1.0) -> None:
        self._argv = argv
        self._pause = restart_pause_s
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._watch = threading.Thread(target=self._keep_running, name="quanzu-writer-watch", daemon=True)
        self.starts = 0

    def start(self) -> None:
        self._spawn()
        self._watch.start()

    def _spawn(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._process = subprocess.Popen(self._argv)  # noqa: S603  (our own command line)
                self.starts += 1

    def _keep_running(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            code = process.wait() if process is not None else None
            if self._stopping.is_set() or code == 0:  # stopped, or told to stop (systemd stops the group)
                return
            log.warning("the writer stopped (exit %s); starting it again", code)
            self._stopping.wait(self._pause)
            self._spawn()

    def watching(self) -> bool:
        """Whether it would start the writer again if it died."""
        return self._watch.is_alive()

    def stop(self, timeout_s: float = 30.0) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
