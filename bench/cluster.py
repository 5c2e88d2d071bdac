"""Cluster benchmark on PostgreSQL: intake throughput and p99 with 1, 2 and 4 server processes,
and JetStream intake (`quanzu ingest nats`) with 1 and 2 consumers, each against the anchor of the
intake benchmark (a bare durable single-row insert loop at the same concurrency) measured in the
same run on the same database.

    .venv/bin/python bench/cluster.py [--processes 1 2 4] [--seconds 10] [--concurrency 32]
                                      [--messages 1500] [--consumers 1 2]

One database (`quanzu_bench`, dropped and recreated, `db upgrade` + `demo load`). Per process
count: `quanzu serve --workers N` with `QUANZU_EMBEDDED_WORKER=false` and one `quanzu worker`
beside it (the production layout), a warm-up, then a closed loop at saturation: `--concurrency`
posters back to back for `--seconds`. JetStream: `--messages` demo warnings published to a
stream of their own, then K `quanzu ingest nats` processes bound to one durable consumer drain it;
the rate counts from the first stored warning to the last (process start-up excluded).
Everything runs on 127.0.0.1, is bounded in count and time, and stops what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nats
import psycopg
from benchkit import BIN, PG_ADMIN_URL, ensure_postgres, machine, running_server, stop

from intake import (
    ANCHOR_SECONDS,
    Sample,
    anchor,
    client,
    closed_loop,
    make_bodies,
    prepare,
    server_env,
)

NATS_URL = "nats://127.0.0.1:4222"
WARMUP = 40
DRAIN_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 300.0  # N processes each build their caches at start; slow on a busy machine
FEED_CLIENT = "bench-stream-feed"
PG_CLUSTER_DB = "quanzu_bench_cluster"  # its own: never drops a database another benchmark is using


@dataclass
class Row:
    name: str
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int
    note: str = ""


@contextmanager
def separate_worker(env: dict[str, str], cwd: Path) -> Iterator[None]:
    log = (cwd / "worker.log").open("wb")
    proc = subprocess.Popen([str(BIN / "quanzu"), "worker"], env=env, cwd=cwd, stdout=log, stderr=log)  # noqa: S603
    try:
        yield
    finally:
        stop(proc)
        log.close()


# --- HTTP intake with N server processes --------------------------------------------------------


async def saturate(base: str, token: str, args: argparse.Namespace, seed: int) -> Sample:
    n = int(args.concurrency * args.seconds * 15) + WARMUP  # more than N processes can take
    bodies = make_bodies(n, seed)
    async with client(base, token, args.concurrency) as http:
        warm = await closed_loop(http, bodies[:WARMUP], 8, 60.0, Sample())
        if warm.errors:
            raise RuntimeError(f"warm-up failed: {warm.errors[:3]}")
        return await closed_loop(http, bodies[WARMUP:], args.concurrency, args.seconds, Sample())


def http_phase(env: dict[str, str], cwd: Path, token: str, processes: int, args: argparse.Namespace) -> Row:
    print(
        f"-- {processes} server process(es) + 1 worker, {args.seconds:g} s at concurrency {args.concurrency}"
    )
    server = running_server(env, cwd, processes, ready_timeout_s=READY_TIMEOUT_S)
    with separate_worker(env, cwd), server as (base, _pid):
        sample = asyncio.run(saturate(base, token, args, seed=1000 + processes))
    for e in sample.errors[:3]:
        print(f"   error: {e}")
    return Row(
        f"HTTP, {processes} process{'es' if processes > 1 else ''}",
        sample.throughput,
        sample.pct(0.5),
        sample.pct(0.99),
        len(sample.errors),
    )


# --- JetStream intake ---------------------------------------------------------------------------


async def publish(stream: str, subject: str, bodies: list[bytes]) -> None:
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[subject])
    acks = [await js.publish_async(subject, b) for b in bodies]
    await asyncio.gather(*acks)
    await nc.close()


async def delete_streams(*names: str) -> None:
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    for name in names:
        with contextlib.suppress(Exception):
            await js.delete_stream(name)
    await nc.close()


def fresh_database() -> str:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_CLUSTER_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_CLUSTER_DB}")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_CLUSTER_DB}"


def warnings_stored(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM warnings").fetchone()
        return int(row[0]) if row else 0


def stream_phase(env: dict[str, str], cwd: Path, url: str, consumers: int, args: argparse.Namespace) -> Row:
    tag = uuid.uuid4().hex[:8]
    stream, subject, durable = f"QZBENCH_{tag}", f"qzbench.{tag}.warnings", f"qzbench-{tag}"
    bodies = make_bodies(args.messages, seed=2000 + consumers)
    print(f"-- JetStream: {args.messages} warnings, {consumers} consumer(s)")
    asyncio.run(publish(stream, subject, bodies))
    before = warnings_stored(url)
    target = before + args.messages
    cmd = [str(BIN / "quanzu"), "ingest", "nats", "--client", FEED_CLIENT, "--stream", stream]
    cmd += ["--subject", subject, "--durable", durable, "--dead-subject", f"qzbench.{tag}.dead"]
    cmd += ["--idle-exit", "5", "--batch", "50"]
    logs = [(cwd / f"consumer-{tag}-{i}.log").open("wb") for i in range(consumers)]
    # The first consumer creates the durable consumer; the others bind to it once it exists.
    procs = [subprocess.Popen(cmd, env=env, cwd=cwd, stdout=logs[0], stderr=logs[0])]  # noqa: S603
    first = last = 0.0
    try:
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        seen = before
        while seen < target and time.monotonic() < deadline:
            seen = warnings_stored(url)
            if seen > before and not first:
                first = time.perf_counter()
                for log in logs[1:]:
                    procs.append(subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=log))  # noqa: S603
            time.sleep(0.05)
        last = time.perf_counter()
    finally:
        for p in procs:
            stop(p)
        for log in logs:
            log.close()
        asyncio.run(delete_streams(stream, f"{stream}_DEAD"))
    stored = warnings_stored(url) - before
    rate = (stored - 1) / (last - first) if last > first else 0.0
    note = "" if stored == args.messages else f"only {stored} of {args.messages} stored"
    return Row(
        f"JetStream, {consumers} consumer{'s' if consumers > 1 else ''}",
        rate,
        float("nan"),
        float("nan"),
        0,
        note,
    )


# --- the run ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--messages", type=int, default=1500)
    p.add_argument("--consumers", type=int, nargs="+", default=[1, 2])
    args = p.parse_args(argv)
    if not (
        all(1 <= n <= 8 for n in args.processes) and 0 < args.seconds <= 120 and 1 <= args.messages <= 20000
    ):
        p.error("need 1..8 processes, 0 < seconds <= 120, 1..20000 messages")
    ensure_postgres()
    services = Path(__file__).resolve().parent.parent / "scripts" / "ensure-services.sh"
    subprocess.run([str(services)], check=True)  # noqa: S603  (our own script: PostgreSQL, NATS)
    cwd = Path(tempfile.mkdtemp(prefix="quanzu-bench-cluster-"))
    url = fresh_database()
    env = server_env(url, cwd / "data")
    env["QUANZU_EMBEDDED_WORKER"] = "false"
    token = prepare(env, cwd)
    add_feed = [str(BIN / "quanzu"), "client", "add", FEED_CLIENT, "--role", "feed"]
    subprocess.run(add_feed, env=env, cwd=cwd, check=True, capture_output=True)  # noqa: S603

    rows = []
    for n in args.processes:
        rows.append(http_phase(env, cwd, token, n, args))
        print(f"   {rows[-1]}")
    for k in args.consumers:
        rows.append(stream_phase(env, cwd, url, k, args))
        print(f"   {rows[-1]}")
    print(f"-- anchor: {args.concurrency} threads, {ANCHOR_SECONDS:g} s")
    a = anchor("postgresql", url, args.concurrency, ANCHOR_SECONDS)
    rows.append(Row("anchor (insert loop)", a.throughput, a.pct(0.5), a.pct(0.99), 0))
    report(rows, a.throughput, args)
    shutil.rmtree(cwd, ignore_errors=True)
    print(json.dumps({r.name: round(r.throughput, 1) for r in rows}, ensure_ascii=False))


def report(rows: list[Row], anchor_rate: float, args: argparse.Namespace) -> None:
    print(f"\nmachine: {machine()}")
    # The figures mean little if other work shares the cores: say how busy the machine was.
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(f"PostgreSQL; concurrency {args.concurrency}; {args.seconds:g} s per HTTP phase;", end=" ")
    print(f"{args.messages} stream messages")
    head = f"{'phase':<24}{'rows/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'/ anchor':>10}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r.name:<24}{r.throughput:>9.1f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.errors:>8}"
            f"{r.throughput / anchor_rate:>10.4f}  {r.note}"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
