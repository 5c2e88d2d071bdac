"""Timers benchmark: how fast the durable timers fire, and how late, against an anchor (the same
claim-and-mark loop in bare SQL) measured in the same run on the same database. PostgreSQL only.

    .venv/bin/python bench/timers.py [--timers 10000] [--rate 1000] [--workers 2]

A fresh database `quanzu_bench_timers` (dropped, recreated, migrated with Alembic), then:

1. throughput: --timers timers of kind "probe", all already due; --workers threads, each with its
   own engine (own connections, as separate worker processes would have), call the real
   `fire_due(..., limit=100)` with a trivial handler until it returns 0. Timers fired per second.
2. lag under load: --timers timers due at --rate per second starting ~1 s from now (wall clock);
   the same threads loop like the real worker (fire_due; when it returns 0, sleep 10 ms). Lag is
   measured three ways: `fired_at - due_at` from the table (fire_due stamps one `now` per batch,
   taken before the claim), the wall time inside the handler, and the wall time the batch's
   transaction committed (when the effect became durable and visible).
3. anchor: a table `bench_anchor_timers` with the same number of due rows; the same number of
   threads, each with its own psycopg connection, run one `WITH ... FOR UPDATE SKIP LOCKED UPDATE`
   claiming 100 rows + commit until 0 rows. Rows per second.

Everything talks to 127.0.0.1 only, every loop is bounded in count and time, and the database is
left behind for inspection (it is dropped at the start of the next run).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from benchkit import PG_ADMIN_URL, ensure_postgres, machine
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from quanzu.kit.clock import SystemClock
from quanzu.kit.crypto import PiiCipher, generate_master_key
from quanzu.kit.db import make_engine, make_sessionmaker
from quanzu.kit.migrate import upgrade
from quanzu.kit.runtime import Runtime
from quanzu.models.timers import Timer
from quanzu.timers.service import Handler, fire_due

PG_BENCH_DB = "quanzu_bench_timers"
PG_BENCH_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
BATCH = 100  # fire_due(limit=...) and the anchor's LIMIT
IDLE_SLEEP_S = 0.010  # lag phase: how long a worker waits after an empty round
GIVE_UP_S = 120.0  # any phase: stop after this long past its expected end
LEAD_S = 1.0  # lag phase: the first timer is due this long after the workers start
TARGET_P99_S = 1.0
TARGET_RATE = 1000.0
ANCHOR_SQL = (
    "WITH c AS (SELECT id FROM bench_anchor_timers WHERE fired_at IS NULL AND due_at <= now() "
    "ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED) "
    "UPDATE bench_anchor_timers t SET fired_at = now() FROM c WHERE t.id = c.id"
)


# --- statistics ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank), in the unit of `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class Rounds:
    """What the worker threads did: fire_due calls, their durations and batch sizes."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: int = 0
    empty_calls: int = 0
    claimed: int = 0
    busy_seconds: float = 0.0  # summed over threads, non-empty calls only
    errors: list[str] = field(default_factory=list)

    def add(self, n: int, seconds: float) -> None:
        with self.lock:
            self.calls += 1
            self.claimed += n
            if n:
                self.busy_seconds += seconds
            else:
                self.empty_calls += 1


@dataclass
class Phase:
    name: str
    count: int = 0
    elapsed: float = 0.0
    lags: dict[str, list[float]] = field(default_factory=dict)  # seconds, per way of measuring
    rounds: Rounds = field(default_factory=Rounds)
    duplicates: int = 0
    left_unfired: int = 0

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0


# --- setup -------------------------------------------------------------------------------------
# ensure_postgres, postgres_version and machine are copied from bench/intake.py: bench/ is not a
# package, so mypy cannot follow an import of it from here.


def fresh_database() -> str:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    upgrade(PG_BENCH_URL)
    return PG_BENCH_URL


def reset_timers(engine: Engine, n: int, first_due: datetime, step: timedelta) -> None:
    """Empty the table, then n probe timers due at first_due + i*step (bulk insert, not timed)."""
    rows = [
        {"kind": "probe", "subject_id": i, "key": "", "token": "t", "due_at": first_due + i * step}
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE timers RESTART IDENTITY"))
        conn.execute(insert(Timer), rows)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE timers"))


def worker_engines(url: str, workers: int) -> list[Engine]:
    engines = [make_engine(url, pool_size=2) for _ in range(workers)]
    for e in engines:  # connect before the clock starts
        e.connect().close()
    return engines


def run_threads(workers: int, target: Callable[[int], None], timeout: float) -> float:
    """Start `workers` threads together; returns the wall seconds until the last one finished."""
    barrier = threading.Barrier(workers + 1)

    def body(i: int) -> None:
        barrier.wait()
        target(i)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    deadline = start + timeout
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.perf_counter()))
    return time.perf_counter() - start


# --- 1. throughput ------------------------------------------------------------------------------


def throughput(url: str, rt: Runtime, n: int, workers: int) -> Phase:
    phase = Phase("quanzu fire_due")
    engines = worker_engines(url, workers)
    reset_timers(engines[0], n, rt.clock.now() - timedelta(minutes=5), timedelta(microseconds=1))
    fired: Counter[int] = Counter()
    lock = threading.Lock()

    def probe(session: Session, _rt: Runtime, timer: Timer) -> str:
        with lock:
            fired[timer.id] += 1
        return "acted"

    handlers: dict[str, Handler] = {"probe": probe}
    deadline = time.perf_counter() + GIVE_UP_S

    def work(i: int) -> None:
        factory = make_sessionmaker(engines[i])
        for _ in range(n // BATCH + 10 * workers):  # bounded: enough rounds for every timer
            t = time.perf_counter()
            try:
                claimed = fire_due(factory, rt, handlers, limit=BATCH)
            except Exception as exc:
                phase.rounds.errors.append(repr(exc))
                return
            phase.rounds.add(claimed, time.perf_counter() - t)
            if claimed == 0 or time.perf_counter() > deadline:
                return

    phase.elapsed = run_threads(workers, work, GIVE_UP_S + 10)
    phase.count = phase.rounds.claimed
    phase.duplicates = sum(c - 1 for c in fired.values() if c > 1)
    phase.left_unfired = count_unfired(engines[0])
    for e in engines:
        e.dispose()
    return phase


def count_unfired(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM timers WHERE fired_at IS NULL")).scalar_one())


# --- 2. lag under load --------------------------------------------------------------------------


def lag(url: str, rt: Runtime, n: int, rate: float, workers: int) -> Phase:
    phase = Phase(f"quanzu lag @{rate:g}/s")
    engines = worker_engines(url, workers)
    step = timedelta(seconds=1 / rate)
    # Insert far in the future, then shift so the first timer is due LEAD_S after the shift.
    reset_timers(engines[0], n, rt.clock.now() + timedelta(days=1), step)
    handled: dict[int, float] = {}  # timer id -> wall time inside the handler
    committed: dict[int, float] = {}  # timer id -> wall time its batch had committed
    fired: Counter[int] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def probe(session: Session, _rt: Runtime, timer: Timer) -> str:
        now = time.time()
        local.batch.append(timer.id)
        with lock:
            fired[timer.id] += 1
            handled.setdefault(timer.id, now)
        return "acted"

    handlers: dict[str, Handler] = {"probe": probe}
    expected = LEAD_S + n / rate
    stop = threading.Event()

    def work(i: int) -> None:
        factory = make_sessionmaker(engines[i])
        deadline = time.perf_counter() + expected + GIVE_UP_S
        while not stop.is_set() and time.perf_counter() < deadline:
            local.batch = []
            t = time.perf_counter()
            try:
                claimed = fire_due(factory, rt, handlers, limit=BATCH)
            except Exception as exc:
                phase.rounds.errors.append(repr(exc))
                time.sleep(IDLE_SLEEP_S)
                continue
            done = time.time()
            phase.rounds.add(claimed, time.perf_counter() - t)
            with lock:
                for timer_id in local.batch:
                    committed.setdefault(timer_id, done)
                if len(committed) >= n:
                    stop.set()
            if claimed == 0:
                time.sleep(IDLE_SLEEP_S)

    with engines[0].begin() as conn:
        first = conn.execute(select(Timer.due_at).order_by(Timer.due_at).limit(1)).scalar_one()
        shift = first - (rt.clock.now() + timedelta(seconds=LEAD_S))
        conn.execute(text("UPDATE timers SET due_at = due_at - :shift"), {"shift": shift})
    phase.elapsed = run_threads(workers, work, expected + GIVE_UP_S + 10) - LEAD_S
    phase.count = phase.rounds.claimed
    phase.duplicates = sum(c - 1 for c in fired.values() if c > 1)
    phase.left_unfired = count_unfired(engines[0])
    with engines[0].connect() as conn:
        rows = conn.execute(select(Timer.id, Timer.due_at, Timer.fired_at)).all()
    table, in_handler, at_commit = [], [], []
    for timer_id, due_at, fired_at in rows:
        if fired_at is None:
            continue
        due = due_at.timestamp()
        table.append((fired_at - due_at).total_seconds())
        if timer_id in handled:
            in_handler.append(handled[timer_id] - due)
        if timer_id in committed:
            at_commit.append(committed[timer_id] - due)
    phase.lags = {"fired_at (table)": table, "in handler": in_handler, "committed": at_commit}
    for e in engines:
        e.dispose()
    return phase


# --- 3. anchor ----------------------------------------------------------------------------------


def anchor(url: str, n: int, workers: int) -> Phase:
    phase = Phase("anchor (bare SQL)")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_anchor_timers")
        conn.execute(
            "CREATE TABLE bench_anchor_timers "
            "(id bigserial PRIMARY KEY, due_at timestamptz NOT NULL, fired_at timestamptz)"
        )
        # the same partial index the timers table has (ix_timers_pending_due)
        conn.execute(
            "CREATE INDEX ix_bench_anchor_timers_pending ON bench_anchor_timers (due_at) "
            "WHERE fired_at IS NULL"
        )
        conn.execute(
            "INSERT INTO bench_anchor_timers (due_at) "
            "SELECT now() - interval '5 minutes' + g * interval '1 microsecond' "
            "FROM generate_series(1, %s) g",
            (n,),
        )
        conn.execute("VACUUM ANALYZE bench_anchor_timers")
    conns = [psycopg.connect(url) for _ in range(workers)]
    deadline = time.perf_counter() + GIVE_UP_S

    def work(i: int) -> None:
        conn = conns[i]
        for _ in range(n // BATCH + 10 * workers):
            t = time.perf_counter()
            cur = conn.execute(ANCHOR_SQL, (BATCH,))
            conn.commit()
            phase.rounds.add(cur.rowcount, time.perf_counter() - t)
            if cur.rowcount == 0 or time.perf_counter() > deadline:
                return

    phase.elapsed = run_threads(workers, work, GIVE_UP_S + 10)
    phase.count = phase.rounds.claimed
    for c in conns:
        c.close()
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM bench_anchor_timers WHERE fired_at IS NULL").fetchone()
        phase.left_unfired = int(row[0]) if row else -1
    return phase


# --- reporting ----------------------------------------------------------------------------------


def print_report(phases: list[Phase], args: argparse.Namespace) -> None:
    print(f"\nmachine: {machine()}")
    print(f"{args.timers} timers, {args.workers} worker threads (own engine/connection each), batch {BATCH}")
    head = f"{'phase':<22}{'timers':>8}{'wall s':>8}{'timers/s':>10}{'ms/batch':>10}{'dups':>6}{'left':>6}"
    print(head)
    print("-" * len(head))
    for p in phases:
        r = p.rounds
        per_batch = r.busy_seconds / max(1, r.calls - r.empty_calls) * 1000
        print(
            f"{p.name:<22}{p.count:>8}{p.elapsed:>8.2f}{p.rate:>10.0f}{per_batch:>10.1f}"
            f"{p.duplicates:>6}{p.left_unfired:>6}"
        )
        for e in r.errors[:3]:
            print(f"  error: {e}")
    lagged = [p for p in phases if p.lags]
    if lagged:
        head = f"\n{'firing lag, ms':<22}{'n':>8}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}"
        print(head)
        print("-" * (len(head) - 1))
        for p in lagged:
            for how, values in p.lags.items():
                ms = [v * 1000 for v in values]
                print(
                    f"{how:<22}{len(ms):>8}{pct(ms, 0.5):>9.1f}{pct(ms, 0.9):>9.1f}"
                    f"{pct(ms, 0.99):>9.1f}{max(ms, default=float('nan')):>9.1f}"
                )
            r = p.rounds
            print(
                f"  {r.calls} fire_due calls ({r.empty_calls} empty), "
                f"{r.claimed / max(1, r.calls - r.empty_calls):.1f} timers per non-empty call"
            )
    by_name = {p.name.split(" ")[0]: p for p in phases}
    quanzu, bare = phases[0], by_name.get("anchor")
    if bare and bare.rate:
        print(f"\nquanzu fire rate / anchor rate = {quanzu.rate / bare.rate:.2f}")
    for p in lagged:
        p99 = pct(p.lags["committed"], 0.99)
        ok = p99 < TARGET_P99_S and args.rate >= TARGET_RATE and p.left_unfired == 0
        print(
            f"target p99 lag < {TARGET_P99_S:g} s at {TARGET_RATE:g} timers/s: "
            f"{'MET' if ok else 'NOT MET'} (p99 until committed {p99 * 1000:.0f} ms at {args.rate:g}/s)"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timers", type=int, default=10_000, help="timers per phase")
    p.add_argument("--rate", type=float, default=1000.0, help="lag phase: timers falling due per second")
    p.add_argument("--workers", type=int, default=2, help="worker threads (and anchor connections)")
    args = p.parse_args(argv)
    if not (1 <= args.timers <= 1_000_000 and 1 <= args.rate <= 100_000 and 1 <= args.workers <= 64):
        p.error("need 1 <= timers <= 1e6, 1 <= rate <= 1e5, 1 <= workers <= 64")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    ensure_postgres()
    url = fresh_database()
    rt = Runtime(clock=SystemClock(), cipher=PiiCipher(generate_master_key()))
    print(f"throughput: {args.timers} due timers, {args.workers} workers", flush=True)
    fire = throughput(url, rt, args.timers, args.workers)
    print(f"lag: {args.timers} timers at {args.rate:g}/s (~{args.timers / args.rate:.0f} s)", flush=True)
    late = lag(url, rt, args.timers, args.rate, args.workers)
    print("anchor", flush=True)
    bare = anchor(url, args.timers, args.workers)
    print_report([fire, late, bare], args)


if __name__ == "__main__":
    started = datetime.now(UTC)
    main()
    print(f"done in {(datetime.now(UTC) - started).total_seconds():.0f} s")
