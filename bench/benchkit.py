"""What the benchmarks share: the PostgreSQL they run on, the machine they report, free ports."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
Generator = psycopg.Connection[tuple[object, ...]]
BIN = Path(sys.executable).parent
# The benches measure capacity, not policy: the rate limiter runs (its cost is in the figures) but
# its limits are far above what one machine can serve (docs/security.md has the real defaults).
UNTHROTTLED = {
    f"QUANZU_RATE_{kind}_{what}": "1000000"
    for kind in ("MACHINE", "PERSONAL", "SESSION")
    for what in ("PER_S", "BURST")
}


@contextmanager
def generating(
    url: str, maintenance_work_mem: str
) -> Iterator[tuple[psycopg.Connection[tuple[object, ...]], list[int]]]:
    """A connection for filling a bench database with set-based SQL (no wait for the WAL flush,
    room to sort, a fixed random seed so runs are comparable) and the 20 demo stations' ids."""
    with psycopg.connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SELECT setseed(0.20261128)")
        rows = conn.execute("SELECT id FROM org_units WHERE kind = 'station' ORDER BY code").fetchall()
        stations = [int(str(r[0])) for r in rows]
        if len(stations) != 20:
            raise RuntimeError(f"expected the 20 demo stations, found {len(stations)}")
        yield conn, stations


def ensure_postgres() -> None:
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError:
        script = Path(__file__).resolve().parent.parent / "scripts" / "ensure-services.sh"
        subprocess.run([str(script)], check=True)  # noqa: S603  (our own script)


def postgres_version() -> str:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except psycopg.Error:
        return "not reachable"


def machine() -> str:
    model = "?"
    with Path("/proc/cpuinfo").open() as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"PostgreSQL {postgres_version()}, {platform.system()} {platform.release()}"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """`cpu_seconds` of a process and its live children (uvicorn's worker processes)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return cpu_seconds(pid) + sum(tree_cpu_seconds(k) for k in kids if Path(f"/proc/{k}").exists())


@contextmanager
def worker_process(env: dict[str, str], cwd: Path, enabled: bool) -> Iterator[int | None]:
    """`quanzu worker` on its own, as deployed on PostgreSQL (Procfile); None: embedded."""
    if not enabled:
        yield None
        return
    log = (cwd / "worker.log").open("wb")
    cmd = [str(BIN / "quanzu"), "worker"]
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        yield proc.pid
    finally:
        stop(proc)
        log.close()


@dataclass
class Cpu:
    """CPU seconds spent during a phase: the server, the worker, PostgreSQL, the whole machine."""

    server: float = 0.0
    worker: float = 0.0
    postgres: float = 0.0
    machine: float = 0.0
    writes: int = 0  # transactions that wrote (took a transaction id), in the whole cluster


def postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds by pid of this database's PostgreSQL backends and of the WAL writer (the
    cluster is shared: other databases' backends are left out)."""
    found: dict[int, float] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            title = (proc / "cmdline").read_bytes().decode(errors="replace")
            ours = f" {database} " in title or "walwriter" in title
            if not (title.startswith("postgres:") and ours):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(proc.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def postgres_next_xid() -> int:
    """The next transaction id PostgreSQL will assign: the difference over a phase counts the
    transactions that wrote (read-only ones take none), without taking one itself."""
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()
    except psycopg.OperationalError:  # SQLite runs need no PostgreSQL
        return 0
    return int(row[0]) if row else 0


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


_CONTENDER = """
import os, sys, time
busy, period, parent, deadline = float(sys.argv[1]) * 0.01, 0.01, os.getppid(), time.monotonic() + 3600
while os.getppid() == parent and time.monotonic() < deadline:
    start = time.perf_counter()
    while time.perf_counter() - start < busy:
        pass
    time.sleep(period - busy)
"""


@contextmanager
def contending(fraction: float) -> Iterator[None]:
    """A process that keeps `fraction` of one core busy (busy, then asleep, every 10 ms), as a
    neighbour on a shared host takes its share: the margin the figures have on a slower machine.
    It stops with the block, with its parent, or after an hour, whichever comes first."""
    if fraction <= 0:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", _CONTENDER, str(fraction)])  # noqa: S603
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


@contextmanager
def metered(cpu: Cpu, database: str, server: int, worker: int | None) -> Iterator[None]:
    """Processes that end during the phase are not counted (PostgreSQL keeps its backends); the
    server counts with its child processes (`quanzu serve --workers N`)."""
    server0, worker0 = tree_cpu_seconds(server), cpu_seconds(worker) if worker else 0.0
    postgres0, machine0, xid0 = postgres_cpu(database), machine_busy(), postgres_next_xid()
    yield
    cpu.writes = postgres_next_xid() - xid0
    cpu.server = tree_cpu_seconds(server) - server0
    cpu.worker = cpu_seconds(worker) - worker0 if worker else 0.0
    cpu.postgres = sum(now - postgres0.get(pid, 0.0) for pid, now in postgres_cpu(database).items())
    cpu.machine = machine_busy() - machine0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running_server(
    env: dict[str, str], cwd: Path, workers: int = 1, ready_timeout_s: float = 30.0
) -> Iterator[tuple[str, int]]:
    """`quanzu serve` on a free port (base URL, pid); always stopped on exit, errors included."""
    port = free_port()
    log = (cwd / "server.log").open("wb")
    cmd = [
        str(BIN / "quanzu"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, ready_timeout_s)
        yield base, proc.pid
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminates a process we started, killing it if it does not go within 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see server.log")
        try:
            if httpx.get(f"{base}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become healthy")


@contextmanager
def profiling(pid: int, out: Path | None, seconds: float) -> Iterator[None]:
    """Samples the server (threads holding the GIL only: where its CPU goes) in folded stacks."""
    if out is None:
        yield
        return
    cmd = [str(BIN / "py-spy"), "record", "--gil", "--subprocesses", "-r", "250", "-f", "raw", "-o", str(out)]
    proc = subprocess.Popen([*cmd, "-d", str(int(seconds)), "-p", str(pid)])  # noqa: S603
    try:
        yield
    finally:
        proc.wait()


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) in milliseconds of `values` in seconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000
