"""Pages benchmark: latency of the read-heavy pages (the centre's board, the dashboard, the officer's
task list) over real HTTP on a year of data, against an anchor (two bare SQL reads over psycopg)
measured in the same run on the same database. PostgreSQL only.

    .venv/bin/python bench/pages.py [--closed 1000000] [--open 10000] [--child-share 1.0]
                                    [--requests 50] [--concurrency 4] [--budget 45] [--reuse]

1. data: a fresh database `quanzu_bench_pages` (dropped, recreated, migrated with `upgrade`), the
   demo district (`quanzu demo load`, 20 stations), then set-based SQL (INSERT ... SELECT over
   generate_series, no ORM, no API): --closed closed and --open open cases over the 20 stations,
   one person and one warning per case; steps (sign / phone / face_to_face), outcomes and amounts
   for the closed ones; 4 SLA clocks per open case and per 1 in 10 of the closed ones. Steps and
   clocks of closed cases go to a --child-share sample of them. Then VACUUM ANALYZE. --reuse skips
   all this and measures the database left by an earlier run.
2. pages: `quanzu serve` on a free 127.0.0.1 port; sign in as `centre` (and `sl-leader1` for
   /m/list) through POST /login; per page one warm-up request, then --requests requests one after
   the other, then the same number spread over --concurrency clients. A page stops early after
   --budget seconds per phase (at least 3 requests are always made).
3. anchor: over psycopg on the same database, `SELECT count(*) FROM cases WHERE state != 'closed'`
   and `SELECT id FROM cases WHERE state != 'closed' ORDER BY urgency DESC LIMIT 200`.

Everything talks to 127.0.0.1 only, every loop is bounded in count and time, and the database is
left behind for inspection (it is dropped at the start of the next run without --reuse).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg
from benchkit import (
    BIN,
    PG_ADMIN_URL,
    UNTHROTTLED,
    ensure_postgres,
    generating,
    machine,
    pct,
    running_server,
)

from quanzu.demo.people import DEMO_PASSWORD
from quanzu.kit.migrate import upgrade

PG_BENCH_DB = "quanzu_bench_pages"
PG_BENCH_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
REQUEST_TIMEOUT_S = 300.0
MIN_REQUESTS = 3  # per page and phase, whatever the budget
ANCHOR_RUNS = 50
ROW_TABLES = ("persons", "cases", "warnings", "case_steps", "case_slas")
SLOW_P95_MS = 300.0


# --- statistics ---------------------------------------------------------------------------------


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bytes: int = 0
    elapsed: float = 0.0

    @property
    def p50(self) -> float:
        return pct(self.latencies, 0.5)

    @property
    def p95(self) -> float:
        return pct(self.latencies, 0.95)

    @property
    def max(self) -> float:
        return max(self.latencies, default=float("nan")) * 1000


# --- the database -------------------------------------------------------------------------------


def fresh_database() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")


def count_rows() -> dict[str, int]:
    with psycopg.connect(PG_BENCH_URL) as conn:
        counts = {}
        for t in ROW_TABLES:
            row = conn.execute(f"SELECT count(*) FROM {t}").fetchone()  # noqa: S608  (our own names)
            counts[t] = int(row[0]) if row else 0
        return counts


# Plausible spreads: risk 20/40/30/10 % low/medium/high/extreme; outcomes 70 % dissuaded, 5 % lost,
# 15 % not fraud, 10 % unreachable; tier 2 for 3 %, tier 3 for 0.5 %. Open cases opened in the last
# 72 h (skewed to recent), 1 % of them in triage (no station), 20 % dispatched, the rest in progress.
SQL_PERSONS = """
INSERT INTO persons (id, name_masked, phone_masked, id_number_masked, created_at)
SELECT g,
       (ARRAY['王','李','张','刘','陈','杨','黄','赵','吴','周'])[1 + g %% 10] || '**',
       '138****' || lpad((g %% 10000)::text, 4, '0'),
       '3205**********' || lpad((g * 7 %% 10000)::text, 4, '0'),
       CASE WHEN g <= %(closed)s
            THEN now() - interval '2 hours' - random() * interval '363 days'
            ELSE now() - random() * random() * interval '72 hours' END
FROM generate_series(1, %(total)s) g
"""

SQL_CASES = """
INSERT INTO cases (id, person_id, station_id, state, tier, risk_level, scam_type, urgency,
                   signal_count, amount_at_risk, routing_method, routing_detail, opened_at,
                   updated_at, closed_at, outcome, amount_protected, amount_lost)
SELECT id, id, CASE WHEN state = 'triage' THEN NULL ELSE (%(stations)s::int[])[1 + id %% 20] END,
       state, tier, risk, scam, rank * 25 + (r_amt * 25)::int, CASE WHEN r_tier > 0.92 THEN 2 ELSE 1 END,
       amount, CASE WHEN state = 'triage' THEN 'triage' ELSE 'address' END,
       CASE WHEN state = 'triage' THEN '地址无法识别' ELSE '江苏省苏州市吴江区' END,
       opened_at, coalesce(closed_at, opened_at), closed_at, outcome,
       CASE WHEN outcome = 'dissuaded' THEN amount END,
       CASE WHEN outcome = 'lost' THEN round(amount * 0.6, 2) END
FROM (
  SELECT id, opened_at, r_amt, r_tier, round((500 + r_amt * r_amt * 199500)::numeric, 2) AS amount,
         CASE WHEN r_risk < 0.2 THEN 0 WHEN r_risk < 0.6 THEN 1 WHEN r_risk < 0.9 THEN 2 ELSE 3 END AS rank,
         (ARRAY['low','medium','high','extreme'])[CASE WHEN r_risk < 0.2 THEN 1 WHEN r_risk < 0.6 THEN 2
                                                        WHEN r_risk < 0.9 THEN 3 ELSE 4 END] AS risk,
         (ARRAY['order_brushing','investment','loan','fake_customer_service','impersonate_authority',
                'fake_credit','fake_shopping','impersonate_acquaintance','game_trading','romance',
                'other'])[1 + (r_scam * 11)::int %% 11] AS scam,
         CASE WHEN r_tier < 0.03 THEN 2 WHEN r_tier < 0.035 THEN 3 ELSE 1 END AS tier,
         CASE WHEN closed THEN 'closed' WHEN r_out < 0.01 THEN 'triage' WHEN r_out < 0.21 THEN 'dispatched'
              ELSE 'in_progress' END AS state,
         CASE WHEN NOT closed THEN NULL WHEN r_out < 0.70 THEN 'dissuaded' WHEN r_out < 0.75 THEN 'lost'
              WHEN r_out < 0.90 THEN 'not_fraud' ELSE 'unreachable' END AS outcome,
         CASE WHEN closed THEN least(now(), opened_at + interval '30 minutes' + r_amt * interval '36 hours')
              END AS closed_at
  FROM (SELECT id, created_at AS opened_at, id <= %(closed)s AS closed, random() AS r_risk,
               random() AS r_scam, random() AS r_tier, random() AS r_out, random() AS r_amt
        FROM persons) p
) s
"""

SQL_WARNINGS = """
INSERT INTO warnings (id, source, external_id, content_hash, case_id, person_id, merged, issued_at,
                      received_at, scam_type, risk_level, amount_at_risk, description,
                      routing_method, routing_detail, station_id, target_enc)
SELECT id, (ARRAY['national','provincial','municipal','hotline','bank','telecom'])[1 + id %% 6],
       'bench-' || id, md5(id::text) || md5((id + 1)::text), id, person_id, false,
       opened_at - interval '40 seconds', opened_at, scam_type, risk_level, amount_at_risk,
       '疑似' || scam_type || '诈骗，请立即劝阻', routing_method, routing_detail, station_id, '\\x00'::bytea
FROM cases
"""

# Steps go to every open case and to the --child-share sample of the closed ones.
SQL_SIGN = """
INSERT INTO case_steps (case_id, kind, actor, started_at, ended_at, outcome, note)
SELECT id, 'sign', 'bench-officer', t, t, NULL, ''
FROM (SELECT id, opened_at + interval '1 minute' + random() * interval '9 minutes' AS t, state,
             random() AS u FROM cases WHERE (state != 'closed' OR id %% 1000 < %(share_permille)s)) c
WHERE state = 'in_progress' OR (state = 'closed' AND u < 0.8)
"""

SQL_PHONE = """
INSERT INTO case_steps (case_id, kind, actor, started_at, ended_at, outcome, note)
SELECT id, 'phone', 'bench-officer', t, t + interval '3 minutes',
       CASE WHEN u < 0.35 THEN 'answered' WHEN u < 0.55 THEN 'dissuaded' WHEN u < 0.60 THEN 'not_convinced'
            WHEN u < 0.80 THEN 'no_answer' ELSE 'powered_off' END, ''
FROM (SELECT id, opened_at + interval '5 minutes' + random() * interval '20 minutes' AS t, state,
             random() AS u FROM cases WHERE (state != 'closed' OR id %% 1000 < %(share_permille)s)) c
WHERE state IN ('closed', 'in_progress') AND u < 0.9
"""

SQL_FACE = """
INSERT INTO case_steps (case_id, kind, actor, started_at, ended_at, outcome, note)
SELECT id, 'face_to_face', 'bench-officer', t, least(closed_at, t + interval '30 minutes'),
       CASE WHEN random() < 0.7 THEN 'dissuaded' ELSE 'not_convinced' END, ''
FROM (SELECT id, closed_at, opened_at + interval '25 minutes' + random() * interval '4 hours' AS t,
             random() AS u FROM cases WHERE state = 'closed' AND id %% 1000 < %(share_permille)s) c
WHERE u < 0.3 AND t < closed_at
"""

# Clocks: sign 10 min, first contact 30 min, face to face 24 h, feedback 72 h after opening.
# Closed cases (1 in 10 of the sample): met at 0.3-1.2 x the allowance, so about 1 in 6 late.
# Open cases: sign met when in progress; first contact met for 70 % of those; the rest unmet.
SQL_SLAS = """
INSERT INTO case_slas (case_id, kind, due_at, met_at, breached_at, token)
SELECT id, kind, due, met, CASE WHEN met IS NULL AND due <= now() OR met > due THEN due END, 'bench'
FROM (
  SELECT c.id, k.kind, c.opened_at + k.allow AS due,
         CASE WHEN c.state = 'closed'
                THEN least(c.closed_at, c.opened_at + k.allow * (0.3 + random() * 0.9))
              WHEN c.state = 'in_progress' AND k.kind = 'sign'
                THEN c.opened_at + k.allow * (0.2 + random() * 0.7)
              WHEN c.state = 'in_progress' AND k.kind = 'first_contact' AND random() < 0.7
                THEN c.opened_at + k.allow * (0.3 + random() * 0.9) END AS met
  FROM cases c
  CROSS JOIN (VALUES ('sign', interval '10 minutes'), ('first_contact', interval '30 minutes'),
                     ('face_to_face', interval '24 hours'), ('feedback', interval '72 hours')) k(kind, allow)
  WHERE c.state != 'closed' OR (c.id %% 1000 < %(share_permille)s AND c.id %% 10 = 0)
) s
WHERE met IS NULL OR met <= now()
"""

# The milestones the dissuasion service keeps on each case as steps are recorded (KPIs read them).
SQL_MILESTONES = """
UPDATE cases c SET signed_at = m.signed, first_contact_at = m.contact, first_meeting_outcome = m.meeting
FROM (
  SELECT case_id,
         min(ended_at) FILTER (WHERE kind = 'sign') AS signed,
         min(ended_at) FILTER (
           WHERE (kind = 'phone' AND outcome IN ('answered', 'dissuaded', 'not_convinced', 'refused'))
              OR (kind = 'face_to_face' AND outcome IN ('dissuaded', 'not_convinced'))) AS contact,
         (array_agg(outcome ORDER BY id)
            FILTER (WHERE kind = 'face_to_face' AND ended_at IS NOT NULL))[1] AS meeting
  FROM case_steps GROUP BY case_id
) m
WHERE c.id = m.case_id
"""

GENERATION_STEPS = (
    ("persons", SQL_PERSONS),
    ("cases", SQL_CASES),
    ("warnings", SQL_WARNINGS),
    ("steps: sign", SQL_SIGN),
    ("steps: phone", SQL_PHONE),
    ("steps: face_to_face", SQL_FACE),
    ("case_slas", SQL_SLAS),
    ("case milestones", SQL_MILESTONES),
)


def generate(closed: int, open_: int, share: float) -> list[tuple[str, int, float]]:
    """Fills the tables with set-based SQL; returns (step, rows, seconds) per step."""
    timings: list[tuple[str, int, float]] = []
    with generating(PG_BENCH_URL, "512MB") as (conn, stations):
        params = {
            "closed": closed,
            "total": closed + open_,
            "stations": stations,
            "share_permille": round(share * 1000),
        }
        for name, sql in GENERATION_STEPS:
            t = time.perf_counter()
            cur = conn.execute(sql, params)
            conn.commit()
            timings.append((name, cur.rowcount, time.perf_counter() - t))
            print(f"  {name:<20}{cur.rowcount:>10,} rows {timings[-1][2]:>7.1f} s", flush=True)
        for table in ("persons", "cases", "warnings"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )
        conn.commit()
    t = time.perf_counter()
    with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
        for table in ROW_TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
    timings.append(("VACUUM ANALYZE", 0, time.perf_counter() - t))
    print(f"  {'VACUUM ANALYZE':<20}{'':>10}      {timings[-1][2]:>7.1f} s", flush=True)
    return timings


def data_facts() -> dict[str, int]:
    """A few shares worth knowing about the generated data."""
    with psycopg.connect(PG_BENCH_URL) as conn:
        row = conn.execute(
            """SELECT count(*) FILTER (WHERE state != 'closed'),
                      count(*) FILTER (WHERE state = 'triage'),
                      count(*) FILTER (WHERE tier > 1),
                      count(*) FILTER (WHERE opened_at >= now() - interval '7 days')
               FROM cases"""
        ).fetchone()
        overdue = conn.execute(
            """SELECT count(DISTINCT case_id) FROM case_slas s
               WHERE met_at IS NULL AND due_at <= now()
                 AND case_id IN (SELECT id FROM cases WHERE state != 'closed')"""
        ).fetchone()
    assert row is not None and overdue is not None
    return {
        "open": row[0],
        "triage": row[1],
        "tier>1": row[2],
        "opened last 7 d": row[3],
        "open & overdue": overdue[0],
    }


# --- the server ---------------------------------------------------------------------------------


def server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANZU_")} | UNTHROTTLED
    env.update(
        QUANZU_DATABASE_URL=PG_BENCH_URL,
        QUANZU_DATA_DIR=str(data_dir),
        QUANZU_PII_KEY_FILE=str(data_dir / "pii.key"),  # default is ./var/pii.key
    )
    return env


def login(base: str, username: str) -> str:
    """The qz_session cookie of a form sign-in."""
    with httpx.Client(base_url=base, trust_env=False, timeout=30) as http:
        r = http.post("/login", data={"username": username, "password": DEMO_PASSWORD, "next": "/"})
        token = r.cookies.get("qz_session")
        if r.status_code != 303 or not token:
            raise RuntimeError(f"login as {username} failed: HTTP {r.status_code}")
        return token


# --- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    label: str
    user: str
    path: str


def pages() -> list[Page]:
    today = datetime.now(LOCAL_TZ).date()
    year_ago = today - timedelta(days=365)
    return [
        Page("GET /board", "centre", "/board"),
        Page("GET /board/list?station=SL", "centre", "/board/list?station=SL"),
        Page("GET /board/list?risk=high", "centre", "/board/list?risk=high"),
        Page("GET /dashboard (7 d)", "centre", "/dashboard"),
        Page("GET /dashboard (365 d)", "centre", f"/dashboard?from={year_ago}&to={today}"),
        Page("GET /m/list (sl-leader1)", "sl-leader1", "/m/list"),
    ]


def fetch(http: httpx.Client, path: str, sample: Sample, lock: threading.Lock) -> None:
    t = time.perf_counter()
    try:
        r = http.get(path)
    except httpx.HTTPError as exc:
        with lock:
            sample.errors.append(f"{type(exc).__name__}: {exc}")
        return
    latency = time.perf_counter() - t
    with lock:
        if r.status_code == 200:
            sample.latencies.append(latency)
            sample.bytes = len(r.content)
        else:
            sample.errors.append(f"HTTP {r.status_code}")


def measure(base: str, token: str, path: str, requests: int, clients: int, budget_s: float) -> Sample:
    """`requests` GETs of `path` spread over `clients` threads (each its own connection), stopping
    early once `budget_s` has passed and at least MIN_REQUESTS were made."""
    sample = Sample()
    lock = threading.Lock()
    issued = 0
    start = time.perf_counter()

    def take() -> bool:
        nonlocal issued
        with lock:
            if issued >= requests or (issued >= MIN_REQUESTS and time.perf_counter() - start > budget_s):
                return False
            issued += 1
            return True

    def run() -> None:
        with httpx.Client(
            base_url=base, cookies={"qz_session": token}, timeout=REQUEST_TIMEOUT_S, trust_env=False
        ) as http:
            while take():
                fetch(http, path, sample, lock)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=budget_s + REQUEST_TIMEOUT_S * 2)
    sample.elapsed = time.perf_counter() - start
    return sample


@dataclass
class PageResult:
    page: Page
    sequential: Sample
    concurrent: Sample


def measure_pages(base: str, args: argparse.Namespace) -> list[PageResult]:
    tokens = {user: login(base, user) for user in ("centre", "sl-leader1")}
    results = []
    for page in pages():
        token = tokens[page.user]
        warm = measure(base, token, page.path, 1, 1, args.budget)
        if warm.errors:
            raise RuntimeError(f"{page.label}: warm-up failed: {warm.errors}")
        seq = measure(base, token, page.path, args.requests, 1, args.budget)
        conc = measure(base, token, page.path, args.requests, args.concurrency, args.budget)
        results.append(PageResult(page, seq, conc))
        print(
            f"  {page.label:<28} {warm.bytes:>8,} B  seq p95 {seq.p95:8.1f} ms (n={len(seq.latencies)})  "
            f"x{args.concurrency} p95 {conc.p95:8.1f} ms (n={len(conc.latencies)})",
            flush=True,
        )
    return results


# --- the anchor ---------------------------------------------------------------------------------

ANCHORS = (
    ("count(*) open", "SELECT count(*) FROM cases WHERE state != 'closed'"),
    ("top 200 open", "SELECT id FROM cases WHERE state != 'closed' ORDER BY urgency DESC LIMIT 200"),
)


def anchor(sql: str) -> Sample:
    sample = Sample()
    with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
        conn.execute(sql).fetchall()  # warm-up
        start = time.perf_counter()
        for _ in range(ANCHOR_RUNS):
            t = time.perf_counter()
            conn.execute(sql).fetchall()
            sample.latencies.append(time.perf_counter() - t)
        sample.elapsed = time.perf_counter() - start
    return sample


# --- reporting ----------------------------------------------------------------------------------


def print_report(
    results: list[PageResult],
    anchors: list[tuple[str, Sample]],
    rows: dict[str, int],
    args: argparse.Namespace,
) -> None:
    print(f"\nmachine: {machine()}")
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in rows.items()))
    print(
        f"{args.requests} requests per page and phase, budget {args.budget:g} s, {args.concurrency} clients"
    )
    head = (
        f"{'page':<29}{'clients':>8}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'err':>5}"
        f"{'p95/count':>11}{'p95/top200':>12}"
    )
    print(head)
    print("-" * len(head))
    count_p95, top_p95 = anchors[0][1].p95, anchors[1][1].p95
    for r in results:
        for clients, s in ((1, r.sequential), (args.concurrency, r.concurrent)):
            print(
                f"{r.page.label:<29}{clients:>8}{len(s.latencies):>5}{s.p50:>10.1f}{s.p95:>10.1f}"
                f"{s.max:>10.1f}{len(s.errors):>5}{s.p95 / count_p95:>10.0f}x{s.p95 / top_p95:>11.0f}x"
            )
    for name, s in anchors:
        print(f"{'anchor: ' + name:<29}{1:>8}{len(s.latencies):>5}{s.p50:>10.1f}{s.p95:>10.1f}{s.max:>10.1f}")
    slow = [
        f"{r.page.label} ({max(r.sequential.p95, r.concurrent.p95):.0f} ms)"
        for r in results
        if max(r.sequential.p95, r.concurrent.p95) > SLOW_P95_MS
    ]
    print(f"\np95 over {SLOW_P95_MS:g} ms: {', '.join(slow) if slow else 'none'}")
    for r in results:
        for e in (r.sequential.errors + r.concurrent.errors)[:3]:
            print(f"  error {r.page.label}: {e}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--closed", type=int, default=1_000_000, help="closed cases to generate")
    p.add_argument("--open", type=int, default=10_000, help="open cases to generate")
    p.add_argument("--child-share", type=float, default=1.0, help="share of closed cases with steps/clocks")
    p.add_argument("--requests", type=int, default=50, help="requests per page and phase")
    p.add_argument("--concurrency", type=int, default=4, help="clients in the concurrent phase")
    p.add_argument("--budget", type=float, default=45.0, help="seconds per page and phase, at most")
    p.add_argument("--reuse", action="store_true", help="measure the database of an earlier run")
    args = p.parse_args(argv)
    if not (0 <= args.closed <= 5_000_000 and 1 <= args.open <= 100_000 and 0 <= args.child_share <= 1):
        p.error("need 0 <= closed <= 5,000,000, 1 <= open <= 100,000, 0 <= child-share <= 1")
    if not (1 <= args.requests <= 1000 and 1 <= args.concurrency <= 32 and 1 <= args.budget <= 600):
        p.error("need 1 <= requests <= 1000, 1 <= concurrency <= 32, 1 <= budget <= 600")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    ensure_postgres()
    workdir = Path(tempfile.mkdtemp(prefix="quanzu-bench-pages-"))
    try:
        env = server_env(workdir / "data")
        if not args.reuse:
            print(f"fresh database {PG_BENCH_DB}: migrate, demo load", flush=True)
            fresh_database()
            upgrade(PG_BENCH_URL)
            cmd = [str(BIN / "quanzu"), "demo", "load"]
            subprocess.run(cmd, env=env, cwd=workdir, check=True, capture_output=True)  # noqa: S603
            print(f"generating {args.closed:,} closed + {args.open:,} open cases", flush=True)
            t = time.perf_counter()
            generate(args.closed, args.open, args.child_share)
            print(f"  generation total {time.perf_counter() - t:.1f} s", flush=True)
        rows = count_rows()
        print("data: " + ", ".join(f"{k} {v:,}" for k, v in data_facts().items()), flush=True)
        with running_server(env, workdir) as (base, _pid):
            print(f"server up at {base}", flush=True)
            results = measure_pages(base, args)
        anchors = [(name, anchor(sql)) for name, sql in ANCHORS]
        print_report(results, anchors, rows, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
