"""Screening benchmark: throughput and latency of POST /api/v1/screen over real HTTP with a
1,000,000-entry watch list on PostgreSQL, against two anchors measured in the same run:

- the same server's trivial fixed-JSON endpoint (GET /api/v1/ping), same load generator, same
  connections (target: screening >= 0.5x its throughput);
- `redis-benchmark -t get` on the local Redis, where present (an in-memory lookup over TCP with
  no HTTP, no JSON, no Python: the floor of what a network lookup costs on this machine).

    .venv/bin/python bench/screen.py [--entries 1000000] [--seconds 10] [--rounds 3] [--connections 16]
    .venv/bin/python bench/screen.py --reuse /tmp/qz-screen   # keep the database for the next run

The load generator is wrk (Debian's package; `make bench` installs it), one thread, so that the
server keeps the other core. The request mix is mostly misses, as at a real counter: 95 % unknown
customers, 5 % watched ones, half of each plain and half blinded with the bank's key. The ping
and screening phases alternate for `--rounds` rounds (ping-screen, screen-ping, ...), so that a
machine whose load drifts weighs on both; the ratio is of the mean throughputs. The server runs
as deployed on PostgreSQL (Procfile): `quanzu serve` with `QUANZU_EMBEDDED_WORKER=false` and one
`quanzu worker` (`--embedded-worker` for the one-box layout). Also reported: the CPU time per
request of the server, the worker and this database's PostgreSQL processes; how long the server
takes to build the index at start, and how soon a new watch entry answers as a hit. Everything
talks to 127.0.0.1 only and stops by itself.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from benchkit import (
    BIN,
    PG_ADMIN_URL,
    UNTHROTTLED,
    Cpu,
    ensure_postgres,
    machine,
    metered,
    profiling,
    running_server,
    worker_process,
)

from quanzu.kit.crypto import PiiCipher, mask_id_number, mask_phone
from quanzu.kit.identifiers import id_check_char

PG_DB = "quanzu_bench_screen"
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"
HIT_SHARE = 0.05
BODY_COUNT = 20_000
COPY_BATCH = 50_000
STARTUP_TIMEOUT_S = 600.0
WRK_LUA = """
local bodies = {}
for line in io.lines(os.getenv("QZ_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
wrk.method = os.getenv("QZ_METHOD")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("QZ_TOKEN")
request = function()
  i = i % #bodies + 1
  if wrk.method == "GET" then return wrk.format() end
  return wrk.format(nil, nil, nil, bodies[i])
end
"""


def identity(i: int) -> tuple[str, str]:
    """The i-th watched person's ID number (valid GB 11643) and mobile number, both unique."""
    birth = datetime(1940, 1, 1, tzinfo=UTC) + timedelta(days=i // 900)
    first17 = f"320584{birth:%Y%m%d}{100 + i % 900:03d}"
    return first17 + id_check_char(first17), f"+86139{i:08d}"


def fresh_database() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")


def quanzu(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([str(BIN / "quanzu"), *args], env=env, cwd=cwd, check=True, capture_output=True)  # noqa: S603
    return done.stdout.decode().strip()


def seed_cases(env: dict[str, str], cwd: Path) -> tuple[int, int]:
    """Two real cases through the intake API: the bulk watch list hangs off the first, the
    visibility check watches the second."""
    from quanzu.demo.feed import DemoFeed

    token = (Path(env["QUANZU_DATA_DIR"]) / "demo-feed.token").read_text().strip()
    feed = DemoFeed(7)
    cases: list[int] = []
    with running_server(env, cwd) as (base, _pid):
        while len(cases) < 2:  # the demo feed repeats some targets: a repeat merges into their case
            body = feed.next_warning(datetime.now(UTC))
            r = httpx.post(f"{base}/api/v1/warnings", json=body, headers={"Authorization": f"Bearer {token}"})
            r.raise_for_status()
            if int(r.json()["case_id"]) not in cases:
                cases.append(int(r.json()["case_id"]))
    return cases[0], cases[1]


def fill_watch_list(cipher: PiiCipher, case_id: int, entries: int) -> int:
    """`entries` watch entries with an ID number and a phone each, written with COPY; returns
    the first one's id (entry i holds `identity(i)`)."""
    now = datetime.now(UTC)
    started = time.monotonic()
    with psycopg.connect(PG_URL) as conn, conn.cursor() as cur:
        base = int(cur.execute("SELECT coalesce(max(id), 0) FROM watch_entries").fetchone()[0])  # type: ignore[index]
        for start in range(0, entries, COPY_BATCH):
            ids = range(base + 1 + start, base + 1 + min(entries, start + COPY_BATCH))
            with cur.copy(
                "COPY watch_entries (id, case_id, risk_level, origin, reason, created_by, created_at,"
                " expires_at, keep_after_close) FROM STDIN"
            ) as copy:
                for wid in ids:
                    copy.write_row(
                        (
                            wid,
                            case_id,
                            "high",
                            "officer",
                            "bench",
                            "bench",
                            now,
                            now + timedelta(days=30),
                            False,
                        )
                    )
            with cur.copy(
                "COPY watch_identifiers (watch_id, kind, bidx, value_enc, masked) FROM STDIN"
            ) as copy:
                for wid in ids:
                    id_number, phone = identity(wid)
                    copy.write_row(
                        _identifier(cipher, wid, "id_number", id_number, mask_id_number(id_number))
                    )
                    copy.write_row(_identifier(cipher, wid, "phone", phone, mask_phone(phone)))
            print(f"  {min(entries, start + COPY_BATCH):>9,} watch entries written", end="\r", flush=True)
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('watch_entries', 'id'),"
            " (SELECT max(id) FROM watch_entries))"
        )
        conn.commit()
    print(f"  {entries:,} watch entries written in {time.monotonic() - started:.0f} s")
    return base + 1


def _identifier(cipher: PiiCipher, wid: int, kind: str, value: str, masked: str) -> tuple[object, ...]:
    return (
        wid,
        kind,
        cipher.blind_index(value, kind=kind),
        cipher.encrypt(value, context=f"watch.{kind}"),
        masked,
    )


def make_bodies(path: Path, entries: int, first_watch: int, bank_key: str, rng: random.Random) -> None:
    key = bytes.fromhex(bank_key)
    lines = []
    for _ in range(BODY_COUNT):
        watched = rng.random() < HIT_SHARE
        i = first_watch + rng.randrange(entries) if watched else 10_000_000 + rng.randrange(80_000_000)
        id_number, phone = identity(i)
        kind, value = rng.choice((("id_number", id_number), ("phone", phone)))
        if rng.random() < 0.5:
            body: dict[str, object] = {kind: value}
        else:
            body = {"blinded": {kind: hmac.new(key, value.encode(), hashlib.sha256).hexdigest()}}
        body.update(channel="counter", amount=f"{rng.randrange(1, 500) * 100}.00", branch_code="SZ01")
        lines.append(json.dumps(body))
    path.write_text("\n".join(lines) + "\n")


def wrk(
    url: str, method: str, token: str, bodies: Path, seconds: float, connections: int, workdir: Path
) -> dict[str, float]:
    script = workdir / "bench.lua"
    script.write_text(WRK_LUA)
    env = {**os.environ, "QZ_BODIES": str(bodies), "QZ_METHOD": method, "QZ_TOKEN": token}
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout  # noqa: S603
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "errors": float(errors.group(1)) if errors else 0.0,
    }
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if m:
            result[f"p{pct}"] = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return result


def redis_anchor(connections: int) -> dict[str, float] | None:
    if shutil.which("redis-benchmark") is None:
        return None
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-t", "get", "-n", "300000", "-c", str(connections), "-q"]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout  # noqa: S603
    except (subprocess.SubprocessError, OSError):
        return None
    m = re.search(r"GET: ([\d.]+) requests per second(?:, p50=([\d.]+) msec)?", out.replace("\r", "\n"))
    if not m:
        return None
    return {"rps": float(m.group(1)), "p50": float(m.group(2) or "nan")}


def time_to_visible(base: str, officer: str, bank: str, case_id: int) -> float:
    """Seconds from an officer's watch request being answered to the first screening hit."""
    headers = {"Authorization": f"Bearer {officer}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        account = f"62220{secrets.randbelow(10**14):014d}"
        r = http.post(f"/api/v1/cases/{case_id}/watch", json={"accounts": [account]}, headers=headers)
        r.raise_for_status()
        answered = time.monotonic()
        while time.monotonic() - answered < 10:
            hit = http.post(
                "/api/v1/screen", json={"account": account}, headers={"Authorization": f"Bearer {bank}"}
            )
            if hit.json().get("hit"):
                return time.monotonic() - answered
        return float("inf")


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Prepared:
    """What the run needs from the set-up: kept in `state.json` for `--reuse`."""

    key: str
    bank_token: str
    bank_key: str
    officer: str
    probe_case: int
    entries: int
    first_watch: int


def prepare(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> Prepared:
    """A fresh database with the watch list, or (`--reuse`) the one a previous run left."""
    state_file = workdir / "state.json"
    if args.reuse and state_file.is_file():
        found = Prepared(**json.loads(state_file.read_text()))
        if found.entries == args.entries and database_matches(found):
            print(f"reusing {PG_DB} and {workdir} ({found.entries:,} watch entries)")
            return found
    fresh_database()
    quanzu(env, workdir, "db", "upgrade")
    quanzu(env, workdir, "demo", "load")
    bank_token = (workdir / "data" / "demo-bank.token").read_text().strip()
    bank_key = quanzu(env, workdir, "bank", "key", "WJRCB")
    officer = quanzu(env, workdir, "token", "create", "centre")
    bulk_case, probe_case = seed_cases(env, workdir)
    print(f"filling the watch list ({args.entries:,} entries)")
    first = fill_watch_list(PiiCipher(env["QUANZU_PII_KEY"]), bulk_case, args.entries)
    done = Prepared(env["QUANZU_PII_KEY"], bank_token, bank_key, officer, probe_case, args.entries, first)
    state_file.write_text(json.dumps(asdict(done)))
    return done


def database_matches(found: Prepared) -> bool:
    """The database still holds the watch list this state describes (another run with other
    --entries, or a fresh run, rebuilds it under the same name with another key)."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone() is None:
            return False
    last = found.first_watch + found.entries - 1
    with psycopg.connect(PG_URL) as conn:
        row = conn.execute(
            "SELECT value_enc FROM watch_identifiers WHERE watch_id = %s AND kind = 'phone'", (last,)
        ).fetchone()
    if row is None:
        return False
    try:
        return PiiCipher(found.key).decrypt(bytes(row[0]), context="watch.phone") == identity(last)[1]
    except Exception:  # another key: not this run's list
        return False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3, help="ping and screening phases, interleaved")
    p.add_argument(
        "--profile",
        type=Path,
        help="py-spy (GIL holders only) on the server while screening (and FILE.ping.txt: while pinged)",
    )
    p.add_argument(
        "--embedded-worker",
        action="store_true",
        help="run the delivery worker inside the server (one-box installs) instead of as its own process",
    )
    p.add_argument(
        "--reuse",
        type=Path,
        metavar="DIR",
        help="keep the database and this work directory; a later run with the same --entries reuses them",
    )
    args = p.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: `apt-get install wrk` (make bench does)")
    ensure_postgres()
    workdir = args.reuse or Path(tempfile.mkdtemp(prefix="quanzu-bench-screen-"))
    workdir.mkdir(parents=True, exist_ok=True)
    state_file = workdir / "state.json"
    key = (
        json.loads(state_file.read_text())["key"]
        if args.reuse and state_file.is_file()
        else base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANZU_")} | UNTHROTTLED
    env.update(QUANZU_DATABASE_URL=PG_URL, QUANZU_DATA_DIR=str(workdir / "data"), QUANZU_PII_KEY=key)
    try:
        ready = prepare(args, env, workdir)
        bodies = workdir / "bodies.txt"
        make_bodies(bodies, ready.entries, ready.first_watch, ready.bank_key, random.Random(2026))
        serve_env = env | {"QUANZU_EMBEDDED_WORKER": "true" if args.embedded_worker else "false"}
        started = time.monotonic()
        with (
            worker_process(env, workdir, not args.embedded_worker) as worker,
            running_server(serve_env, workdir, ready_timeout_s=STARTUP_TIMEOUT_S) as (base, pid),
        ):
            startup = time.monotonic() - started
            print(f"server up in {startup:.0f} s (index built); warm-up, then {args.seconds:g} s per phase")
            token = ready.bank_token
            wrk(f"{base}/api/v1/screen", "POST", token, bodies, 2, args.connections, workdir)
            load = (args.seconds, args.connections, workdir)
            rounds: list[dict[str, Phase]] = []
            for n in range(args.rounds):
                # ping, screen, then screen, ping: a load that drifts during the run weighs on both
                order = ("ping", "screen") if n % 2 == 0 else ("screen", "ping")
                measured: dict[str, Phase] = {}
                for name in order:
                    cpu = Cpu()
                    profile = args.profile if n == 0 else None
                    if profile and name == "ping":
                        profile = profile.with_suffix(".ping.txt")
                    url, method = (
                        (f"{base}/api/v1/ping", "GET")
                        if name == "ping"
                        else (f"{base}/api/v1/screen", "POST")
                    )
                    with metered(cpu, PG_DB, pid, worker), profiling(pid, profile, args.seconds):
                        measured[name] = Phase(wrk(url, method, token, bodies, *load), cpu)
                rounds.append(measured)
                ratio = measured["screen"].result["rps"] / measured["ping"].result["rps"]
                print(
                    f"  round {n + 1}: ping {measured['ping'].result['rps']:,.0f} req/s, "
                    f"screen {measured['screen'].result['rps']:,.0f} req/s, ratio {ratio:.2f}"
                )
            visible = time_to_visible(base, ready.officer, token, ready.probe_case)
            rss = resident_mb(pid)
        redis = redis_anchor(args.connections)
        report(args, rounds, redis, startup, visible, rss)
    finally:
        if not os.environ.get("QUANZU_BENCH_KEEP") and not args.reuse:
            shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Phase:
    result: dict[str, float]
    cpu: Cpu


def pooled(phases: list[Phase]) -> dict[str, float]:
    """Equal-length phases: mean throughput, summed errors, the median phase's percentiles."""
    out = {
        "rps": statistics.fmean(p.result["rps"] for p in phases),
        "errors": sum(p.result["errors"] for p in phases),
    }
    for key in ("p50", "p90", "p99"):
        out[key] = statistics.median(p.result.get(key, float("nan")) for p in phases)
    return out


def report(
    args: argparse.Namespace,
    rounds: list[dict[str, Phase]],
    redis: dict[str, float] | None,
    startup: float,
    visible: float,
    rss: float,
) -> None:
    print(f"\nmachine: {machine()}; load average before the report: {os.getloadavg()[0]:.2f}")
    layout = "embedded in the server" if args.embedded_worker else "its own process (as deployed)"
    print(
        f"watch list {args.entries:,} entries; wrk 1 thread, {args.connections} connections,"
        f" {args.rounds} rounds of {args.seconds:g} s per phase; worker: {layout}"
    )
    ping = pooled([r["ping"] for r in rounds])
    screen = pooled([r["screen"] for r in rounds])
    head = f"{'phase':<28}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
    print(head + "\n" + "-" * len(head))
    for name, r in (("GET /api/v1/ping (anchor)", ping), ("POST /api/v1/screen", screen)):
        print(
            f"{name:<28}{r['rps']:>10.0f}{r.get('p50', 0):>9.2f}{r.get('p90', 0):>9.2f}"
            f"{r.get('p99', 0):>9.2f}{r['errors']:>9.0f}"
        )
    if redis:
        print(f"{'redis-benchmark -t get':<28}{redis['rps']:>10.0f}{redis['p50']:>9.2f}")
    print("\nCPU per request (ms): server, worker, PostgreSQL (this database, WAL writer), whole machine")
    for name in ("ping", "screen"):
        phases = [r[name] for r in rounds]
        count = sum(p.result["rps"] * args.seconds for p in phases)
        parts = [sum(getattr(p.cpu, f) for p in phases) for f in ("server", "worker", "postgres", "machine")]
        print(f"  {name:<8}" + "".join(f"{1000 * c / count:>9.3f}" for c in parts))
    ratios = [r["screen"].result["rps"] / r["ping"].result["rps"] for r in rounds]
    print(
        f"\nscreen / ping throughput = {screen['rps'] / ping['rps']:.2f} (target >= 0.5);"
        f" by round {min(ratios):.2f}–{max(ratios):.2f}"
    )
    if redis:
        print(f"screen / redis GET throughput = {screen['rps'] / redis['rps']:.3f}")
    print(
        f"server start with the index built: {startup:.0f} s, resident memory {rss:.0f} MB; "
        f"a new watch entry answered as a hit {visible * 1000:.0f} ms after it was created"
    )


if __name__ == "__main__":
    main()
