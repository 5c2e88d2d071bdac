"""Intake benchmark: sustained rate and latency of POST /api/v1/warnings over real HTTP, against an
anchor (a bare durable single-row insert loop) measured in the same run on the same database.

    .venv/bin/python bench/intake.py [--engine sqlite|postgresql|both] [--rate 200] [--seconds 20]
                                     [--concurrency 32] [--history 4000]

Per engine: a fresh database, `quanzu db upgrade` + `quanzu demo load`, `quanzu serve` on a free
127.0.0.1 port, a history of --history warnings (then the worker's backlog done and ANALYZE), an
open-loop phase at --rate (latency measured from each request's scheduled send time, so queueing
counts), a closed-loop "max rate" phase, then the anchor.
Everything talks to 127.0.0.1 only, is bounded in count and time, and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from benchkit import (
    BIN,
    PG_ADMIN_URL,
    UNTHROTTLED,
    Cpu,
    contending,
    ensure_postgres,
    machine,
    metered,
    profiling,
    running_server,
    worker_process,
)
from sqlalchemy import func, select, text

from quanzu.demo.feed import DemoFeed
from quanzu.kit.db import make_engine
from quanzu.models.timers import Timer

PG_BENCH_DB = "quanzu_bench"
PG_BENCH_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
WARMUP_REQUESTS = 50  # at least, whatever --history says
HISTORY_TIMEOUT_S = 600.0
SETTLE_TIMEOUT_S = 120.0
MAX_RATE_SECONDS = 5.0
ANCHOR_SECONDS = 5.0
REQUEST_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 60.0  # after the last scheduled send, how long stragglers may take
LATE_START_S = 0.005  # a request launched this much after its slot counts as a late start
MAX_RATE_BODY_CAP = 20_000  # hard bound on closed-loop requests
ANCHOR_ROW_CAP = 1_000_000  # hard bound on anchor inserts
WARNINGS_PATH = "/api/v1/warnings"
ROW_TABLES = ("warnings", "cases", "case_assignees", "notifications", "outbox", "audit_log")


# --- statistics ---------------------------------------------------------------------------------


@dataclass
class Sample:
    """Latencies (seconds) and outcomes of one phase."""

    latencies: list[float] = field(default_factory=list)
    slots: list[float] = field(default_factory=list)  # each answer's scheduled send time (perf_counter)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    late_starts: int = 0
    cpu_client: float = 0.0  # CPU seconds used by this process (the load generator) in the phase
    cpu: Cpu = field(default_factory=Cpu)  # server, worker, PostgreSQL, machine, in the phase

    def ok(self, status: int, latency: float, slot: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(latency)
        self.slots.append(slot)

    def fail(self, message: str) -> None:
        self.errors.append(message)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        """The q-quantile (nearest rank) in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
        return ordered[rank] * 1000


@dataclass
class EngineResult:
    engine: str
    open_loop: Sample
    max_rate: Sample
    anchor: Sample
    rows: dict[str, int]


# --- databases ----------------------------------------------------------------------------------


def fresh_database(engine: str, workdir: Path) -> str:
    """A new, empty database; returns its URL."""
    if engine == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    return PG_BENCH_URL


def count_rows(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            counts = {}
            for t in ROW_TABLES:
                sql = text(f"SELECT count(*) FROM {t}")  # noqa: S608  (our own table names)
                counts[t] = int(conn.execute(sql).scalar_one())
            return counts
    finally:
        engine.dispose()


# --- the server ---------------------------------------------------------------------------------


def server_env(url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANZU_")} | UNTHROTTLED
    env.update(
        QUANZU_DATABASE_URL=url,
        QUANZU_DATA_DIR=str(data_dir),
        QUANZU_PII_KEY_FILE=str(data_dir / "pii.key"),  # default is ./var/pii.key
    )
    return env


def prepare(env: dict[str, str], cwd: Path) -> str:
    """Migrate, load the demo district; returns the demo feed's token."""
    for args in (["db", "upgrade"], ["demo", "load"]):
        cmd = [str(BIN / "quanzu"), *args]
        subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)  # noqa: S603
    return (Path(env["QUANZU_DATA_DIR"]) / "demo-feed.token").read_text().strip()


@contextmanager
def cpu_meter(sample: Sample, server_pid: int, worker_pid: int | None) -> Iterator[None]:
    client0 = time.process_time()
    with metered(sample.cpu, PG_BENCH_DB, server_pid, worker_pid):
        yield
    sample.cpu_client = time.process_time() - client0


# --- load ---------------------------------------------------------------------------------------


def make_bodies(count: int, seed: int) -> list[bytes]:
    """Pre-serialised demo-feed warnings, so the load generator spends little CPU per request."""
    feed = DemoFeed(seed)
    now = datetime.now(UTC)
    return [json.dumps(feed.next_warning(now), ensure_ascii=False).encode() for _ in range(count)]


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LeanHttp:
    """A minimal HTTP/1.1 client for one JSON POST path: `concurrency` keep-alive connections,
    each request pre-built bytes, each answer read by its Content-Length. On a 2-core machine the
    load generator takes its CPU from the server under test: httpx spent about 3.6 ms per
    request there, a tenth of the machine."""

    def __init__(self, base: str, token: str, concurrency: int) -> None:
        parts = urlsplit(base)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._head = (
            f"POST {WARNINGS_PATH} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: "
        ).encode()
        self._idle: asyncio.Queue[Connection | None] = asyncio.Queue()
        for _ in range(concurrency):
            self._idle.put_nowait(None)  # a slot, connected on first use

    async def __aenter__(self) -> LeanHttp:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                conn[1].close()

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """(status, body) of one POST. Waiting for a free connection is the concurrency limit (the
        timeout runs from the send); a broken connection raises, and its slot reconnects. A kept
        connection the server closed while it was idle (its keep-alive timeout, below one request
        per connection every 5 s) answers nothing: the POST goes again on a new one, as HTTP
        clients do (safe here: intake is idempotent per source and external id)."""
        conn = await self._idle.get()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                answered = None
                if conn is not None:
                    try:
                        answered = await self._exchange(conn, body)
                    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
                        if getattr(exc, "partial", b""):
                            raise  # cut off in the middle of an answer: a real failure
                        conn[1].close()
                        conn = None
                if conn is None:
                    conn = await asyncio.open_connection(self._host, self._port)
                    answered = await self._exchange(conn, body)
            assert answered is not None
            status, answer, close = answered
            if close:
                conn[1].close()
                conn = None
            return status, answer
        except BaseException:
            if conn is not None:
                conn[1].close()
            conn = None
            raise
        finally:
            self._idle.put_nowait(conn)

    async def _exchange(self, conn: Connection, body: bytes) -> tuple[int, bytes, bool]:
        reader, writer = conn
        writer.write(b"%s%d\r\n\r\n%s" % (self._head, len(body), body))
        status, length, close = response_head(await reader.readuntil(b"\r\n\r\n"))
        return status, await reader.readexactly(length), close


def response_head(head: bytes) -> tuple[int, int, bool]:
    """Status, Content-Length and whether the server closes the connection, from a response head."""
    lines = head.decode("latin-1").split("\r\n")
    status, length, close = int(lines[0].split(" ", 2)[1]), 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    return status, length, close


def client(base: str, token: str, concurrency: int) -> LeanHttp:
    return LeanHttp(base, token, concurrency)


async def post(http: LeanHttp, body: bytes, since: float, sample: Sample) -> None:
    """One POST; latency measured from `since` (the scheduled send time) to the response."""
    try:
        status, answer = await http.post(body)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
        sample.fail(f"{type(exc).__name__}: {exc}")
        return
    latency = time.perf_counter() - since
    if status in (200, 201):
        sample.ok(status, latency, since)
    else:
        sample.fail(f"HTTP {status}: {answer[:200].decode(errors='replace')}")


async def open_loop(http: LeanHttp, bodies: list[bytes], rate: float, sample: Sample) -> Sample:
    """Request i is launched at t0 + i/rate whatever happened to the earlier ones; at most the
    client's connections are in flight, the rest wait (their latency counts from their slot)."""
    tasks: list[asyncio.Task[None]] = []
    t0 = time.perf_counter() + 0.05
    for i, body in enumerate(bodies):
        slot = t0 + i / rate
        delay = slot - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif -delay > LATE_START_S:
            sample.late_starts += 1
        tasks.append(asyncio.create_task(post(http, body, slot, sample)))
    _, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_S) if tasks else (set(), set())
    for task in pending:
        task.cancel()
        sample.fail("not answered within the drain timeout")
    sample.elapsed = time.perf_counter() - t0
    return sample


async def closed_loop(
    http: LeanHttp, bodies: list[bytes], workers: int, seconds: float, sample: Sample
) -> Sample:
    """`workers` posters back to back until `seconds` pass or the bodies run out."""
    queue = iter(bodies)
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        for body in queue:
            if time.perf_counter() >= deadline:
                return
            await post(http, body, time.perf_counter(), sample)

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(workers))), seconds + DRAIN_TIMEOUT_S)
    sample.elapsed = time.perf_counter() - start
    return sample


async def settle(url: str) -> None:
    """After the history: the worker's backlog (contact links) done, then the statistics taken, as
    a deployment's autovacuum keeps them (this machine's PostgreSQL runs with autovacuum off). An
    empty database's plans are no deployment's: a statement prepared while a table was tiny keeps
    its sequential scan as the table grows."""
    engine = make_engine(url)
    try:
        deadline = time.perf_counter() + SETTLE_TIMEOUT_S
        while True:
            due = select(func.count()).where(Timer.fired_at.is_(None), Timer.due_at <= datetime.now(UTC))
            with engine.connect() as conn:
                if not conn.execute(due).scalar_one():
                    break
            if time.perf_counter() > deadline:
                raise RuntimeError("the worker did not catch up with the history")
            await asyncio.sleep(0.5)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    finally:
        engine.dispose()


async def load_phases(
    base: str, url: str, pid: int, worker: int | None, token: str, args: argparse.Namespace
) -> tuple[Sample, Sample]:
    n_open = int(args.rate * args.seconds)
    n_max = min(MAX_RATE_BODY_CAP, int(args.rate * MAX_RATE_SECONDS * 3))
    n_warm = max(args.history, WARMUP_REQUESTS)
    bodies = make_bodies(n_warm + n_open + n_max, seed=20261128)
    warm, steady, burst = (bodies[:n_warm], bodies[n_warm : n_warm + n_open], bodies[n_warm + n_open :])
    async with client(base, token, args.concurrency) as http:
        warmup = await closed_loop(http, warm, min(8, args.concurrency), HISTORY_TIMEOUT_S, Sample())
        if warmup.errors or len(warmup.latencies) < len(warm):
            raise RuntimeError(f"warm-up failed: {len(warmup.latencies)} of {len(warm)}, {warmup.errors[:3]}")
    if args.history:
        await settle(url)
    async with client(base, token, args.concurrency) as http:  # new connections: idle ones timed out
        steady_sample, max_sample = Sample(), Sample()
        with cpu_meter(steady_sample, pid, worker), profiling(pid, args.profile, args.seconds):
            steady_sample = await open_loop(http, steady, args.rate, steady_sample)
        if args.timeline is not None:
            write_timeline(args.timeline, steady_sample)
        with cpu_meter(max_sample, pid, worker):
            max_sample = await closed_loop(http, burst, args.concurrency, MAX_RATE_SECONDS, max_sample)
    return steady_sample, max_sample


def write_timeline(path: Path, sample: Sample) -> None:
    """The open loop's answers as CSV, in slot order: the slot on the monotonic clock (to line up
    with samplers of other processes), seconds from the first slot, latency in ms. Whether the
    slow ones come together (a pause) or spread out (queueing)."""
    start = min(sample.slots, default=0.0)
    rows = sorted(zip(sample.slots, sample.latencies, strict=True))
    lines = [
        "monotonic_s,offset_s,latency_ms",
        *(f"{slot:.4f},{slot - start:.4f},{latency * 1000:.2f}" for slot, latency in rows),
    ]
    path.write_text("\n".join(lines) + "\n")


# --- the anchor ---------------------------------------------------------------------------------


def sqlite_inserter(path: str) -> Callable[[], Callable[[str], None]]:
    def connect() -> Callable[[str], None]:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")

        def insert(payload: str) -> None:
            conn.execute("BEGIN IMMEDIATE")  # as the app's writers do
            conn.execute("INSERT INTO bench_anchor (payload) VALUES (?)", (payload,))
            conn.execute("COMMIT")

        return insert

    return connect


def postgres_inserter(url: str) -> Callable[[], Callable[[str], None]]:
    def connect() -> Callable[[str], None]:
        conn = psycopg.connect(url)

        def insert(payload: str) -> None:
            conn.execute("INSERT INTO bench_anchor (payload) VALUES (%s)", (payload,))
            conn.commit()

        return insert

    return connect


def create_anchor_table(engine: str, url: str) -> Callable[[], Callable[[str], None]]:
    if engine == "sqlite":
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_anchor")
            conn.execute("CREATE TABLE bench_anchor (id INTEGER PRIMARY KEY, payload TEXT)")
        return sqlite_inserter(path)
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("DROP TABLE IF EXISTS bench_anchor")
        pg.execute("CREATE TABLE bench_anchor (id serial PRIMARY KEY, payload text)")
    return postgres_inserter(url)


def anchor(engine: str, url: str, threads: int, seconds: float) -> Sample:
    """`threads` connections, each inserting one row per committed transaction, for `seconds`."""
    connect = create_anchor_table(engine, url)
    sample = Sample()
    lock = threading.Lock()
    payload = "x" * 200
    start = time.perf_counter()
    deadline = start + seconds

    def run() -> None:
        insert = connect()
        mine: list[float] = []
        while len(mine) < ANCHOR_ROW_CAP // threads and time.perf_counter() < deadline:
            t = time.perf_counter()
            insert(payload)
            mine.append(time.perf_counter() - t)
        with lock:
            sample.latencies.extend(mine)

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=seconds + 60)
    sample.elapsed = time.perf_counter() - start
    return sample


# --- one engine ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The processes as each engine is deployed: PostgreSQL as the Procfile runs it, SQLite as
    one box (`make demo`), where more writer processes only queue on the database's one lock."""

    processes: int
    embedded_worker: bool
    shared_writer: bool  # `serve` starts one (PostgreSQL, several processes, not turned off)

    @classmethod
    def of(cls, engine: str, args: argparse.Namespace) -> Layout:
        one_box = engine == "sqlite"
        embedded = args.embedded_worker if args.embedded_worker is not None else one_box
        processes = args.workers or (1 if one_box else 2)
        turned_off = any(setting.upper() == "QUANZU_SHARED_WRITER=FALSE" for setting in args.setting)
        return cls(processes, embedded, engine == "postgresql" and processes > 1 and not turned_off)

    def __str__(self) -> str:
        worker = "embedded in the server" if self.embedded_worker else "its own process"
        writer = ", intake through their shared writer (counted as the server)" if self.shared_writer else ""
        return f"{self.processes} server process(es){writer}, worker {worker}"


def bench_engine(engine: str, args: argparse.Namespace) -> EngineResult:
    print(f"\n== {engine} ==", flush=True)
    if engine == "postgresql":
        ensure_postgres()
    workdir = Path(tempfile.mkdtemp(prefix=f"quanzu-bench-{engine}-"))
    try:
        url = fresh_database(engine, workdir)
        env = server_env(url, workdir / "data")
        token = prepare(env, workdir)
        layout = Layout.of(engine, args)
        serve_env = env | {"QUANZU_EMBEDDED_WORKER": "true" if layout.embedded_worker else "false"}
        serve_env |= dict(setting.split("=", 1) for setting in args.setting)
        with (
            contending(args.contend),
            running_server(serve_env, workdir, layout.processes) as (base, pid),
            worker_process(env, workdir, not layout.embedded_worker) as worker,
        ):
            print(f"layout: {layout}")
            before = f"{args.history} warnings of history, settled, analysed" if args.history else "warm-up"
            print(f"server up at {base}; {before}; {args.seconds:g} s at {args.rate:g}/s; max", flush=True)
            steady, burst = asyncio.run(load_phases(base, url, pid, worker, token, args))
        rows = count_rows(url)
        print(f"anchor: {args.concurrency} threads, {ANCHOR_SECONDS:g} s", flush=True)
        with contending(args.contend):
            anchor_sample = anchor(engine, url, args.concurrency, ANCHOR_SECONDS)
        result = EngineResult(engine, steady, burst, anchor_sample, rows)
        print_engine(result, args)
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- reporting ----------------------------------------------------------------------------------


def print_engine(r: EngineResult, args: argparse.Namespace) -> None:
    s = r.open_loop
    ok, bad = len(s.latencies), len(s.errors)
    print(f"open loop @ {args.rate:g}/s: {ok} ok, {bad} errors, statuses {s.statuses}")
    print(f"  late starts (> {LATE_START_S * 1000:g} ms behind schedule): {s.late_starts}")
    for name, phase in (("open loop", r.open_loop), ("max rate", r.max_rate)):
        c, n = phase.cpu, max(len(phase.latencies), 1)
        parts = {"server": c.server, "worker": c.worker, "PostgreSQL": c.postgres, "machine": c.machine}
        seconds = ", ".join(f"{k} {v:.1f} s" for k, v in parts.items())
        per_warning = ", ".join(f"{k} {1000 * v / n:.1f}" for k, v in parts.items())
        print(
            f"  {name}: CPU over {phase.elapsed:.1f} s wall (of {os.cpu_count()} cores): {seconds},"
            f" load generator {phase.cpu_client:.1f} s; per answered warning (ms): {per_warning}"
        )
        if c.writes and r.engine == "postgresql":  # how many warnings a writing transaction carried
            each = n / c.writes
            print(f"  {name}: {c.writes} writing transactions (server and worker), {each:.2f} warnings each")
        for e in phase.errors[:3]:
            print(f"  error: {e}")
    print(f"  rows after load: {r.rows}")


def ms(v: float) -> str:
    return f"{v:.1f}"


def print_table(results: list[EngineResult], args: argparse.Namespace) -> None:
    head = (
        f"{'engine':<11}{'phase':<18}{'rows/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}{'errors':>8}"
    )
    print(f"\nmachine: {machine()}")
    contention = f"; another process keeping {args.contend:.0%} of a core busy" if args.contend else ""
    print(f"concurrency {args.concurrency}; open loop {args.rate:g}/s for {args.seconds:g} s{contention}")
    print(head)
    print("-" * len(head))
    for r in results:
        for name, s in (
            (f"intake @{args.rate:g}/s", r.open_loop),
            ("intake max", r.max_rate),
            ("anchor", r.anchor),
        ):
            print(
                f"{r.engine:<11}{name:<18}{s.throughput:>9.1f}{ms(s.pct(0.5)):>9}{ms(s.pct(0.9)):>9}"
                f"{ms(s.pct(0.99)):>9}{ms(max(s.latencies, default=0) * 1000):>9}{len(s.errors):>8}"
            )
    print()
    for r in results:
        a = r.anchor
        print(
            f"{r.engine}: intake p99 / anchor p99 = {r.open_loop.pct(0.99) / a.pct(0.99):.1f}x, "
            f"intake p50 / anchor p50 = {r.open_loop.pct(0.5) / a.pct(0.5):.1f}x, "
            f"intake max rate / anchor rate = {r.max_rate.throughput / a.throughput:.2f}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--rate", type=float, default=200.0, help="open-loop target, warnings/s")
    p.add_argument("--seconds", type=float, default=20.0, help="open-loop duration")
    p.add_argument("--concurrency", type=int, default=32, help="HTTP connections and anchor threads")
    p.add_argument(
        "--workers",
        type=int,
        help="server processes (`quanzu serve --workers`); default as deployed: 2 on PostgreSQL (the"
        " Procfile), 1 on SQLite (`make demo`, one box)",
    )
    p.add_argument(
        "--embedded-worker",
        action=argparse.BooleanOptionalAction,
        help="run the timer/delivery worker inside the server instead of as its own process; default"
        " as deployed: its own process on PostgreSQL, embedded on SQLite",
    )
    p.add_argument(
        "--history",
        type=int,
        default=4000,
        help="warnings received before the measurement (then the worker's backlog done and ANALYZE):"
        " a deployment has history and current statistics; 0: 50 warnings, never analysed (as before)",
    )
    p.add_argument(
        "--contend",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="keep this fraction of one core busy in another process through every phase (a"
        " neighbour on a shared host; counted in the machine's CPU): the margin on a slower machine",
    )
    p.add_argument("--profile", type=Path, help="py-spy (GIL holders only) on the server at the set rate")
    p.add_argument("--timeline", type=Path, help="write the open loop's answers here (CSV: slot, latency)")
    p.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="QUANZU_NAME=VALUE",
        help="a setting for the server processes, e.g. QUANZU_GROUP_COMMIT_WRITERS=1 (repeatable)",
    )
    args = p.parse_args(argv)
    if any(not s.startswith("QUANZU_") or "=" not in s for s in args.setting):
        p.error("--setting takes QUANZU_NAME=VALUE")
    if not 0 <= args.contend < 1:
        p.error("need 0 <= contend < 1")
    if not (0 < args.rate <= 5000 and 0 < args.seconds <= 600 and 1 <= args.concurrency <= 256):
        p.error("need 0 < rate <= 5000, 0 < seconds <= 600, 1 <= concurrency <= 256")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    results = [bench_engine(e, args) for e in engines]
    print_table(results, args)


if __name__ == "__main__":
    main()
