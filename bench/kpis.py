"""KPI benchmark: the one KPI implementation (`reports.service.kpis`) over 10,000,000 synthetic
warnings on PostgreSQL, against the same SQL on in-process DuckDB over the same data, in the same
run. PostgreSQL only (DuckDB is the anchor).

    .venv/bin/python bench/kpis.py [--warnings 10000000] [--runs 7] [--budget 120] [--reuse]
                                     [--reuse-duckdb] [--raw-max-days 30]

1. data: a fresh database `quanzu_bench_kpis` (--database; dropped, recreated, migrated with
   `upgrade`), the demo district (`quanzu demo load`, 20 stations), then set-based SQL (INSERT ...
   SELECT over generate_series, no ORM, no API), all server-side: --warnings cases, one warning
   each, over a year, ids and rows in the order of opening as the service appends them (10,000
   of them open, opened in the last 72 h); 80 % as many persons as cases, so a fifth of the cases
   are a person's second, at any distance from the first (the repeat-warning KPI has work to
   do; its flag `repeat_warned_30d` is set on the case as intake sets it, set-based); outcomes, amounts
   and the milestones the dissuasion service keeps on the case (signed_at, first_contact_at,
   first_meeting_outcome); 4 SLA clocks for 1 case in 10 and every open case; a follow-up plan
   with its 4 callbacks (days 3, 7, 14, 28; each with its case's station, as the followups
   service sets it) for 1 in 10 of the cases that had a meeting. VACUUM
   ANALYZE. --reuse skips all this. Every run sets on the database the settings of
   docs/operations.md that PostgreSQL takes per database (work_mem 16MB, random_page_cost 1.1,
   effective_cache_size 3/4 of RAM); the server-wide ones (shared_buffers) stay as they are.
2. DuckDB: the tables the KPI SQL and the daily briefing's queries read are copied out of
   PostgreSQL (COPY ... TO STDOUT, CSV, client side) into an in-process DuckDB database with the
   same column types; a reused copy gets the tables it lacks the same way. No extension is
   downloaded (no postgres_scanner). The briefing's events, reviews, notices and help requests
   are empty in the generated data (copied all the same).
3. rollups: the database is upgraded to head before the copy (a database generated before
   revision 0014 gets the rollup tables and triggers now, before 0016 the backfilled repeat flag;
   a reused DuckDB copy without that column gets it with the same backfill, and both must count
   the same repeat-warned cases; likewise before 0018 the callbacks' station, backfilled from
   their case on both engines) and `reports.tasks.refresh_rollups` builds the daily rollups
   of the year in one call (timed). Today and yesterday are never rolled up.
4. measure: per scenario (7, 30 and 365 days up to the newest data, district-wide and for one
   station; and the one-day district report a daily briefing needs), on PostgreSQL
   `reports.service.kpis` as deployed (rolled-up whole days from the rollups, the rest raw). The
   anchor: the same service with `rollups=False` is called once with every SQL statement it sends
   captured with its parameters, and that text is replayed on DuckDB (only the placeholder style
   changes: `%(name)s` to `$name`): the raw-table KPI SQL on a columnar engine. For windows up to
   --raw-max-days the raw path is also timed on PostgreSQL. One warm-up each, then --runs timed
   runs, fewer when a scenario's runs pass --budget seconds (at least 3). The figure is p95
   (nearest rank) of whole calls.
5. the whole daily briefing: `briefings.service.compute` for yesterday, district-wide, as
   deployed on PostgreSQL (its KPI part with rollups, then the briefing's own queries: overdue
   clocks and callbacks, events, reviews, notices, help requests, the station table). Anchor: the
   statements the same call sends with its KPI part raw (the bench patches `reports.service.kpis`
   to `rollups=False` for the capture and the raw timing only), replayed on DuckDB as above.

Everything talks to 127.0.0.1 only; the PostgreSQL database and the DuckDB file are left behind
for inspection (both are replaced by the next run without --reuse).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import psycopg
from benchkit import BIN, PG_ADMIN_URL, ensure_postgres, generating, machine, pct
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from quanzu.auth.actor import Actor
from quanzu.briefings import service as briefings
from quanzu.codes import Role
from quanzu.kit.clock import FakeClock
from quanzu.kit.crypto import PiiCipher
from quanzu.kit.db import make_engine
from quanzu.kit.migrate import upgrade
from quanzu.kit.runtime import Runtime
from quanzu.reports import service
from quanzu.reports.schemas import LOCAL_TZ, KpiQuery, KpiReport
from quanzu.reports.tasks import refresh_rollups

PG_BENCH_DB = "quanzu_bench_kpis"
PG_BENCH_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
DUCK_FILE = Path(tempfile.gettempdir()) / f"{PG_BENCH_DB}.duckdb"
OPEN_CASES = 10_000
MIN_RUNS = 3
TARGET_RATIO = 3.0
ROW_TABLES = ("persons", "cases", "warnings", "case_slas", "follow_up_plans", "follow_up_callbacks")
# What the KPI SQL and the daily briefing's own queries read; copied to DuckDB (bytea columns
# are left out, JSON as text). The briefing's events, reviews, notices and help requests are
# empty in the generated data (the generator writes none): copied all the same, so the anchor
# runs every statement the briefing sends.
DUCK_TABLES = (
    "org_units",
    "cases",
    "warnings",
    "case_slas",
    "follow_up_callbacks",
    "case_events",
    "case_reviews",
    "review_findings",
    "accountability_notices",
    "help_requests",
)
DUCK_TYPES = {
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "smallint": "SMALLINT",
    "boolean": "BOOLEAN",
    "numeric": "DECIMAL(16,2)",
    "character varying": "VARCHAR",
    "text": "VARCHAR",
    "timestamp with time zone": "TIMESTAMPTZ",
    "date": "DATE",
    "double precision": "DOUBLE",
    "json": "VARCHAR",
    "jsonb": "VARCHAR",
}


# --- statistics -----------------------------------------------------------------------------------


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return pct(self.latencies, 0.5)

    @property
    def p95(self) -> float:
        return pct(self.latencies, 0.95)


# --- the data ---------------------------------------------------------------------------------------


def fresh_database() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")


# docs/operations.md's PostgreSQL settings that can be set per database (the server-wide ones,
# shared_buffers first, stay as the shared server has them); effective_cache_size scaled to this
# machine's memory as the document says.
DATABASE_SETTINGS = {"work_mem": "16MB", "random_page_cost": "1.1"}


def tune_database() -> None:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    ram_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    settings = DATABASE_SETTINGS | {"effective_cache_size": f"{ram_kb * 3 // 4 // 1024}MB"}
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for name, value in settings.items():
            conn.execute(f"ALTER DATABASE {PG_BENCH_DB} SET {name} = '{value}'")


SQL_PERSONS = """
INSERT INTO persons (id, name_masked, phone_masked, id_number_masked, created_at)
SELECT g, '王**', '138****' || lpad((g %% 10000)::text, 4, '0'), '3205**********0000', %(now)s
FROM generate_series(1, %(persons)s) g
"""

# A year of cases, ids in the order of opening (as rows are appended in service, so the heap is
# in time order); OPEN_CASES of them, opened in the last 72 h, are open. Persons: case ids above
# the person count are a second case of person 1 + (id - persons - 1) * spread mod persons (a
# bijection: spread is prime to persons), whose first case (id = person) opened earlier, at any
# distance, and is closed (every open case has an id above the person count).
# Spreads as bench/pages.py: risk 20/40/30/10 %, outcomes 70 % dissuaded, 5 % lost, 15 % not
# fraud, 10 % unreachable; 3 % tier 2. Milestones: 80 % signed 1-10 min after opening (15 % of
# them late, 10-14 min), 65 % reached 5-40 min after; 30 % of the closed met face to face.
# The repeat-warning flag, as intake decides it when a case opens: another case of the person
# (each case has one warning, received when it opened) opened strictly before and at most 720 h
# earlier — a window over the person's cases by opening time (EXCLUDE GROUP: not the case
# itself, nor one opened at the same instant). Rows are inserted in id order, as before.
SQL_CASES = """
INSERT INTO cases (id, person_id, station_id, state, tier, risk_level, scam_type, urgency,
                   signal_count, amount_at_risk, routing_method, routing_detail, opened_at,
                   updated_at, closed_at, outcome, amount_protected, amount_lost,
                   signed_at, first_contact_at, first_meeting_outcome, repeat_warned_30d)
WITH c AS (
SELECT id,
       CASE WHEN id <= %(persons)s THEN id ELSE 1 + (id - %(persons)s - 1) * %(spread)s %% %(persons)s END
         AS person_id,
       (%(stations)s::int[])[1 + id %% 20] AS station_id, state,
       CASE WHEN r_tier < 0.03 THEN 2 ELSE 1 END AS tier,
       (ARRAY['low','medium','high','extreme'])[CASE WHEN r_risk < 0.2 THEN 1 WHEN r_risk < 0.6 THEN 2
                                                    WHEN r_risk < 0.9 THEN 3 ELSE 4 END] AS risk_level,
       (ARRAY['order_brushing','investment','loan','fake_customer_service','impersonate_authority',
              'fake_credit','fake_shopping','impersonate_acquaintance','game_trading','romance',
              'other'])[1 + (r_scam * 11)::int %% 11] AS scam_type,
       amount, opened_at, closed_at, outcome,
       CASE WHEN r_sign < 0.68 THEN opened_at + interval '1 minute' + r_sign * interval '13 minutes'
            WHEN r_sign < 0.80 THEN opened_at + interval '10 minutes' + r_sign * interval '5 minutes'
            END AS signed_at,
       CASE WHEN r_contact < 0.65 THEN opened_at + interval '5 minutes' + r_contact * interval '54 minutes'
            END AS first_contact_at,
       CASE WHEN closed AND r_meet < 0.21 THEN 'dissuaded' WHEN closed AND r_meet < 0.30 THEN 'not_convinced'
            END AS first_meeting_outcome
FROM (
  SELECT id, opened_at, closed, r_risk, r_scam, r_tier, r_sign, r_contact, r_meet,
         round((500 + r_amt * r_amt * 199500)::numeric, 2) AS amount,
         CASE WHEN closed THEN 'closed' ELSE 'in_progress' END AS state,
         CASE WHEN NOT closed THEN NULL WHEN r_out < 0.70 THEN 'dissuaded' WHEN r_out < 0.75 THEN 'lost'
              WHEN r_out < 0.90 THEN 'not_fraud' ELSE 'unreachable' END AS outcome,
         CASE WHEN closed THEN least(%(now)s, opened_at + interval '30 minutes' + r_amt * interval '36 hours')
              END AS closed_at
  FROM (SELECT row_number() OVER (ORDER BY opened_at) AS id, *
        FROM (SELECT g <= %(closed)s AS closed,
                     CASE WHEN g <= %(closed)s
                          THEN %(now)s - interval '2 hours' - random() * interval '363 days'
                          ELSE %(now)s - random() * random() * interval '72 hours' END AS opened_at,
                     random() AS r_risk, random() AS r_scam, random() AS r_tier, random() AS r_out,
                     random() AS r_amt, random() AS r_sign, random() AS r_contact, random() AS r_meet
              FROM generate_series(1, %(total)s) g) g) g
) s)
SELECT id, person_id, station_id, state, tier, risk_level, scam_type, 50, 1, amount, 'address',
       '江苏省苏州市吴江区', opened_at, coalesce(closed_at, opened_at), closed_at, outcome,
       CASE WHEN outcome = 'dissuaded' THEN amount END,
       CASE WHEN outcome = 'lost' THEN round(amount * 0.6, 2) END,
       signed_at, first_contact_at, first_meeting_outcome,
       count(*) OVER (PARTITION BY person_id ORDER BY opened_at
                      RANGE BETWEEN interval '720 hours' PRECEDING AND CURRENT ROW EXCLUDE GROUP) > 0
FROM c ORDER BY id
"""

SQL_WARNINGS = """
INSERT INTO warnings (id, source, external_id, content_hash, case_id, person_id, merged, issued_at,
                      received_at, scam_type, risk_level, amount_at_risk, description,
                      routing_method, routing_detail, station_id, target_enc)
SELECT id, (ARRAY['national','provincial','municipal','hotline','bank','telecom'])[1 + id %% 6],
       'bench-' || id, md5(id::text), id, person_id, false, opened_at - interval '40 seconds',
       opened_at, scam_type, risk_level, amount_at_risk, '疑似诈骗，请立即劝阻', routing_method,
       routing_detail, station_id, '\\x00'::bytea
FROM cases
"""

# Clocks: sign 10 min, first contact 30 min, face to face 24 h, feedback 72 h. Met from the
# milestones where they exist (sign, contact), else at 0.3-1.2 x the allowance for closed cases.
SQL_SLAS = """
INSERT INTO case_slas (case_id, kind, due_at, met_at, breached_at, token)
SELECT id, kind, due, met, CASE WHEN (met IS NULL AND due <= %(now)s) OR met > due THEN due END, 'bench'
FROM (
  SELECT c.id, k.kind, c.opened_at + k.allow AS due,
         CASE k.kind WHEN 'sign' THEN c.signed_at WHEN 'first_contact' THEN c.first_contact_at
              ELSE CASE WHEN c.state = 'closed'
                        THEN least(c.closed_at, c.opened_at + k.allow * (0.3 + random() * 0.9)) END
         END AS met
  FROM cases c
  CROSS JOIN (VALUES ('sign', interval '10 minutes'), ('first_contact', interval '30 minutes'),
                     ('face_to_face', interval '24 hours'), ('feedback', interval '72 hours')) k(kind, allow)
  WHERE c.state != 'closed' OR c.id %% 10 = 0
) s
"""

SQL_PLANS = """
INSERT INTO follow_up_plans (id, case_id, person_id, risk_level, trigger, started_at, created_by)
SELECT id, id, person_id, risk_level, 'face_to_face', opened_at + interval '2 hours', 'bench-officer'
FROM cases WHERE first_meeting_outcome IS NOT NULL AND id %% 10 = 0
"""

# Callbacks on days 3, 7, 14, 28, with their case's station (revision 0018, as the followups
# service sets it); overdue at the due day's local end + 2 h. 85 % recorded in
# time, 5 % late, the rest not recorded (overdue once the deadline passes). Those not due yet
# are not recorded.
SQL_CALLBACKS = """
INSERT INTO follow_up_callbacks (plan_id, case_id, station_id, seq, day, due_at, overdue_at, token,
                                 done_at, done_by, reached, warning_signs, note)
SELECT plan_id, case_id, station_id, seq, day, due_at, overdue_at, 'bench', done_at,
       CASE WHEN done_at IS NOT NULL THEN 'bench-officer' END,
       CASE WHEN done_at IS NOT NULL THEN u < 0.8 END, '[]', ''
FROM (
  SELECT p.id AS plan_id, p.case_id, c.station_id, d.seq, d.day,
         p.started_at + d.day * interval '1 day' AS due_at,
         (date_trunc('day', (p.started_at + d.day * interval '1 day') AT TIME ZONE 'Asia/Shanghai')
            + interval '26 hours') AT TIME ZONE 'Asia/Shanghai' AS overdue_at,
         random() AS u,
         CASE WHEN random() < 0.85 THEN p.started_at + d.day * interval '1 day' + interval '1 hour'
              WHEN random() < 0.33 THEN p.started_at + d.day * interval '1 day' + interval '3 days' END
           AS done_at
  FROM follow_up_plans p JOIN cases c ON c.id = p.case_id
  CROSS JOIN (VALUES (1, 3), (2, 7), (3, 14), (4, 28)) d(seq, day)
) s
WHERE done_at IS NULL OR done_at <= %(now)s
"""

GENERATION_STEPS = (
    ("persons", SQL_PERSONS),
    ("cases", SQL_CASES),
    ("warnings", SQL_WARNINGS),
    ("case_slas", SQL_SLAS),
    ("follow_up_plans", SQL_PLANS),
    ("follow_up_callbacks", SQL_CALLBACKS),
)


def generate(total: int, now: datetime) -> None:
    with generating(PG_BENCH_URL, "1GB") as (conn, stations):
        params = {
            "now": now,
            "total": total,
            "closed": total - OPEN_CASES,
            "persons": total * 4 // 5,
            "spread": next(k for k in range(7919, 10**6, 2) if math.gcd(k, total * 4 // 5) == 1),
            "stations": stations,
        }
        for name, sql in GENERATION_STEPS:
            t = time.perf_counter()
            cur = conn.execute(sql, params)
            conn.commit()
            print(f"  {name:<22}{cur.rowcount:>12,} rows {time.perf_counter() - t:>7.1f} s", flush=True)
        for table in ("persons", "cases", "warnings", "follow_up_plans"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )
        conn.commit()
    t = time.perf_counter()
    with psycopg.connect(PG_BENCH_URL, autocommit=True) as conn:
        for table in ROW_TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
    print(f"  {'VACUUM ANALYZE':<22}{'':>12}      {time.perf_counter() - t:>7.1f} s", flush=True)


def count_rows() -> dict[str, int]:
    with psycopg.connect(PG_BENCH_URL) as conn:
        out = {}
        for t in ROW_TABLES:
            row = conn.execute(f"SELECT count(*) FROM {t}").fetchone()  # noqa: S608  (our own names)
            out[t] = int(row[0]) if row else 0
        return out


def data_now() -> datetime:
    """The generation's `now`: the newest case opened just before it."""
    with psycopg.connect(PG_BENCH_URL) as conn:
        row = conn.execute("SELECT max(opened_at) FROM cases").fetchone()
    if row is None or row[0] is None:
        raise RuntimeError("no cases: run without --reuse first")
    newest: datetime = row[0]
    return newest + timedelta(minutes=1)


# --- DuckDB ------------------------------------------------------------------------------------------


def duck_columns(conn: psycopg.Connection[Any], table: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [(name, DUCK_TYPES[kind]) for name, kind in rows if kind in DUCK_TYPES]


def export_to_duckdb(workdir: Path) -> None:
    """A fresh DuckDB copy of every table in DUCK_TABLES."""
    DUCK_FILE.unlink(missing_ok=True)
    copy_tables(workdir, DUCK_TABLES)


def copy_tables(workdir: Path, tables: tuple[str, ...]) -> None:
    """Each table: COPY out of PostgreSQL as CSV (UTC timestamps), into DuckDB with the same
    column types (an empty table is created from the types alone: DuckDB cannot sniff an empty
    CSV)."""
    duck = duckdb.connect(str(DUCK_FILE))
    try:
        with psycopg.connect(PG_BENCH_URL) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            for table in tables:
                t = time.perf_counter()
                cols = duck_columns(conn, table)
                path = workdir / f"{table}.csv"
                names = ", ".join(name for name, _ in cols)
                with conn.cursor() as cur, path.open("wb") as f:
                    copy_sql = f"COPY (SELECT {names} FROM {table}) TO STDOUT (FORMAT csv)"  # noqa: S608
                    with cur.copy(copy_sql) as copy:
                        for chunk in copy:
                            f.write(chunk)
                if path.stat().st_size == 0:
                    defs = ", ".join(f'"{name}" {kind}' for name, kind in cols)  # `at` is a keyword
                    duck.execute(f"CREATE TABLE {table} ({defs})")
                else:
                    types = ", ".join(f"'{name}': '{kind}'" for name, kind in cols)
                    duck.execute(
                        f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header = false, "  # noqa: S608
                        f"columns = {{{types}}}, timestampformat = '%Y-%m-%d %H:%M:%S.%f%z')"
                    )
                path.unlink()
                n = duck.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
                rows = n[0] if n else 0
                print(f"  {table:<22}{rows:>12,} rows {time.perf_counter() - t:>7.1f} s", flush=True)
    finally:
        duck.close()


# The repeat-warning flag of revision 0016 on a DuckDB copy made before it: the migration's
# definition (DuckDB's interval syntax).
DUCK_REPEAT_BACKFILL = """
UPDATE cases SET repeat_warned_30d = true
WHERE EXISTS (SELECT 1 FROM warnings e
              WHERE e.person_id = cases.person_id AND e.case_id <> cases.id
                AND e.received_at < cases.opened_at AND e.received_at >= cases.opened_at - INTERVAL 720 HOUR)
"""


# The callback's station of revision 0018 on a DuckDB copy made before it: its case's, as the
# migration backfills it.
DUCK_CALLBACK_STATION_BACKFILL = """
UPDATE follow_up_callbacks SET station_id = c.station_id FROM cases c WHERE c.id = follow_up_callbacks.case_id
"""
CALLBACK_STATION_CHECK = (
    "SELECT count(*), count(*) - count(station_id), coalesce(sum(station_id), 0) FROM follow_up_callbacks"
)


def sync_duckdb(workdir: Path) -> None:
    """A reused DuckDB copy gets the tables it lacks (copied from PostgreSQL: the briefing's
    tables for a copy made before the briefing scenario) and the columns added since it was made
    (`cases.repeat_warned_30d` and `follow_up_callbacks.station_id`, backfilled as the migrations
    do); then both must agree with PostgreSQL's."""
    duck = duckdb.connect(str(DUCK_FILE))
    try:
        have = {
            name for (name,) in duck.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
    finally:
        duck.close()
    missing = tuple(t for t in DUCK_TABLES if t not in have)
    if missing:
        print(f"  DuckDB: copying the tables it lacks: {', '.join(missing)}", flush=True)
        copy_tables(workdir, missing)
    duck = duckdb.connect(str(DUCK_FILE))
    try:
        names = duck.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'cases'"
        ).fetchall()
        if ("repeat_warned_30d",) not in names:
            t = time.perf_counter()
            duck.execute("ALTER TABLE cases ADD COLUMN repeat_warned_30d BOOLEAN DEFAULT false")
            duck.execute(DUCK_REPEAT_BACKFILL)
            print(
                f"  DuckDB: cases.repeat_warned_30d backfilled in {time.perf_counter() - t:.1f} s", flush=True
            )
        row = duck.execute("SELECT count(*) FROM cases WHERE repeat_warned_30d").fetchone()
        in_duck = int(row[0]) if row else 0
        names = duck.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'follow_up_callbacks'"
        ).fetchall()
        if ("station_id",) not in names:
            t = time.perf_counter()
            duck.execute("ALTER TABLE follow_up_callbacks ADD COLUMN station_id INTEGER")
            duck.execute(DUCK_CALLBACK_STATION_BACKFILL)
            print(
                f"  DuckDB: follow_up_callbacks.station_id backfilled in {time.perf_counter() - t:.1f} s",
                flush=True,
            )
        cb_duck = duck.execute(CALLBACK_STATION_CHECK).fetchone()
    finally:
        duck.close()
    with psycopg.connect(PG_BENCH_URL) as conn:
        pg_row = conn.execute("SELECT count(*) FROM cases WHERE repeat_warned_30d").fetchone()
        cb_pg = conn.execute(CALLBACK_STATION_CHECK).fetchone()
    in_pg = int(pg_row[0]) if pg_row else 0
    print(f"  repeat-warned cases: PostgreSQL {in_pg:,}, DuckDB {in_duck:,}", flush=True)
    if in_pg != in_duck:
        raise RuntimeError("the DuckDB copy and PostgreSQL disagree on cases.repeat_warned_30d")
    print(f"  callbacks, of them without a station, sum of station ids: PostgreSQL {cb_pg}, DuckDB {cb_duck}")
    if cb_pg is None or cb_duck is None or tuple(map(int, cb_pg)) != tuple(map(int, cb_duck)):
        raise RuntimeError("the DuckDB copy and PostgreSQL disagree on follow_up_callbacks.station_id")


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def duck_sql(statement: str) -> str:
    """The captured PostgreSQL text with DuckDB's placeholder style; nothing else changes."""
    return _PLACEHOLDER.sub(r"$\1", statement).replace("%%", "%")


# --- measuring --------------------------------------------------------------------------------------


@dataclass
class Capture:
    statements: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    on: bool = False


@contextmanager
def capturing(engine: Engine, capture: Capture) -> Iterator[None]:
    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if capture.on:
            capture.statements.append((statement, dict(parameters or {})))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", record)


@dataclass
class Scenario:
    label: str
    query: KpiQuery
    days: int
    briefing_day: date | None = None  # the whole daily briefing (`briefings.service.compute`)


@contextmanager
def raw_kpis() -> Iterator[None]:
    """Bench only: `reports.service.kpis` with `rollups=False` whoever calls it (the briefing's
    `compute` calls it with the default), for the anchor's capture and the raw timing."""
    original = service.kpis

    def raw(
        session: Session, rt: Runtime, actor: Actor, query: KpiQuery, *, rollups: bool = True
    ) -> KpiReport:
        return original(session, rt, actor, query, rollups=False)

    with mock.patch.object(service, "kpis", raw):
        yield


def scenarios(now: datetime) -> list[Scenario]:
    """Windows of whole local days ending with the data's newest day."""
    today = now.astimezone(LOCAL_TZ).date()
    out = []
    for days in (7, 30, 365):
        first = today - timedelta(days=days - 1)
        out.append(Scenario(f"{days} d, district", KpiQuery(from_=first, to=today), days))
        out.append(Scenario(f"{days} d, station SL", KpiQuery(from_=first, to=today, station="SL"), days))
    yesterday: date = today - timedelta(days=1)
    out.append(Scenario("briefing: 1 d, district", KpiQuery(from_=yesterday, to=yesterday), 1))
    out.append(
        Scenario(
            "daily briefing: 1 d, district (whole compute)",
            KpiQuery(from_=yesterday, to=yesterday),
            1,
            briefing_day=yesterday,
        )
    )
    return out


def timed(call: Callable[[], object], runs: int, budget_s: float) -> Sample:
    call()  # warm-up
    sample = Sample()
    start = time.perf_counter()
    for i in range(runs):
        if i >= MIN_RUNS and time.perf_counter() - start > budget_s:
            break
        t = time.perf_counter()
        call()
        sample.latencies.append(time.perf_counter() - t)
    return sample


@dataclass
class Result:
    scenario: Scenario
    postgres: Sample  # the service as deployed: rollups for whole rolled-up days, raw for the rest
    duck: Sample  # the raw-table SQL of the same service on DuckDB
    postgres_raw: Sample | None  # the same raw-table SQL on PostgreSQL (short windows only)
    statements: int
    cases: int


def measure(now: datetime, runs: int, budget_s: float, raw_max_days: int) -> list[Result]:
    engine = make_engine(PG_BENCH_URL, pool_size=1)
    rt = Runtime(clock=FakeClock(now), cipher=PiiCipher("A" * 43 + "="))
    centre = Actor(kind="user", id=None, name="bench-centre", role=Role.CENTRE)
    duck = duckdb.connect(str(DUCK_FILE), read_only=True)
    duck.execute("SET TimeZone = 'UTC'")
    results = []
    try:
        with capturing(engine, capture := Capture()), Session(engine) as session:
            for sc in scenarios(now):

                def call(sc: Scenario = sc, rollups: bool = True) -> int:
                    """The scenario's service call; the cases in its KPI cohort."""
                    if sc.briefing_day is None:
                        report = service.kpis(session, rt, centre, sc.query, rollups=rollups)
                    elif rollups:
                        report = briefings.compute(session, rt, centre, None, sc.briefing_day).kpis
                    else:
                        with raw_kpis():
                            report = briefings.compute(session, rt, centre, None, sc.briefing_day).kpis
                    session.rollback()
                    return report.cases

                capture.statements.clear()
                capture.on = True
                cases = call(rollups=False)
                capture.on = False
                statements = [(duck_sql(s), p) for s, p in capture.statements]

                def on_postgres() -> None:
                    call()

                def on_postgres_raw() -> None:
                    call(rollups=False)

                def on_duck(stmts: list[tuple[str, dict[str, Any]]] = statements) -> None:
                    for sql, params in stmts:
                        duck.execute(sql, params).fetchall()

                pg = timed(on_postgres, runs, budget_s)
                dk = timed(on_duck, runs, budget_s)
                raw = None
                if sc.days <= raw_max_days:
                    raw = timed(on_postgres_raw, runs, budget_s)
                results.append(Result(sc, pg, dk, raw, len(statements), cases))
                print(
                    f"  {sc.label:<26} cases {cases:>10,}  postgres p95 {pg.p95:>9.1f} ms"
                    f"  duckdb p95 {dk.p95:>8.1f} ms  {pg.p95 / dk.p95:>6.1f}x"
                    + (f"  (postgres raw p95 {raw.p95:.1f} ms)" if raw else ""),
                    flush=True,
                )
    finally:
        duck.close()
        engine.dispose()
    return results


def build_rollups(now: datetime) -> float:
    """Every day of the last year that has no readable rollup (all of them after generation)."""
    engine = make_engine(PG_BENCH_URL, pool_size=2)
    factory = sessionmaker(engine, expire_on_commit=False)
    rt = Runtime(clock=FakeClock(now), cipher=PiiCipher("A" * 43 + "="))
    t = time.perf_counter()
    try:
        days = refresh_rollups(factory, rt, limit=400)
    finally:
        engine.dispose()
    elapsed = time.perf_counter() - t
    print(f"  rolled up {days} days in {elapsed:.1f} s", flush=True)
    return elapsed


def print_report(results: list[Result], rows: dict[str, int]) -> None:
    print(f"\nmachine: {machine()}, DuckDB {duckdb.__version__}")
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in rows.items()))
    width = max(27, *(len(r.scenario.label) + 1 for r in results))
    head = (
        f"{'scenario':<{width}}{'cases':>11}{'stmts':>6}{'n':>4}{'pg p50':>10}{'pg p95':>10}"
        f"{'duck p50':>10}{'duck p95':>10}{'ratio':>8}{'pg raw p95':>12}{'  target <= 3x'}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        ratio = r.postgres.p95 / r.duck.p95
        raw = f"{r.postgres_raw.p95:>12.1f}" if r.postgres_raw else f"{'-':>12}"
        print(
            f"{r.scenario.label:<{width}}{r.cases:>11,}{r.statements:>6}{len(r.postgres.latencies):>4}"
            f"{r.postgres.p50:>10.1f}{r.postgres.p95:>10.1f}{r.duck.p50:>10.1f}{r.duck.p95:>10.1f}"
            f"{ratio:>7.1f}x{raw}  {'met' if ratio <= TARGET_RATIO else 'NOT met'}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warnings", type=int, default=10_000_000, help="warnings (= cases) to generate")
    p.add_argument("--runs", type=int, default=7, help="timed runs per scenario and engine")
    p.add_argument("--budget", type=float, default=120.0, help="seconds per scenario and engine, at most")
    p.add_argument("--reuse", action="store_true", help="measure the database of an earlier run")
    p.add_argument("--reuse-duckdb", action="store_true", help="also keep the DuckDB copy of an earlier run")
    p.add_argument("--database", default=PG_BENCH_DB, help="the benchmark database (dropped unless --reuse)")
    p.add_argument("--raw-max-days", type=int, default=30, help="also time PostgreSQL raw up to this window")
    args = p.parse_args(argv)
    if not (OPEN_CASES * 10 <= args.warnings <= 20_000_000):  # open cases: ids above the persons
        p.error(f"need {OPEN_CASES * 10:,} <= warnings <= 20,000,000")
    if not (MIN_RUNS <= args.runs <= 100 and 1 <= args.budget <= 1800):
        p.error(f"need {MIN_RUNS} <= runs <= 100, 1 <= budget <= 1800")
    return args


def main(argv: list[str] | None = None) -> None:
    global PG_BENCH_DB, PG_BENCH_URL, DUCK_FILE  # one database per run
    args = parse_args(argv)
    PG_BENCH_DB = args.database
    PG_BENCH_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
    DUCK_FILE = Path(tempfile.gettempdir()) / f"{PG_BENCH_DB}.duckdb"
    ensure_postgres()
    workdir = Path(tempfile.mkdtemp(prefix="quanzu-bench-kpis-"))
    try:
        if not args.reuse:
            print(f"fresh database {PG_BENCH_DB}: migrate, demo load", flush=True)
            fresh_database()
            upgrade(PG_BENCH_URL)
            env = {k: v for k, v in os.environ.items() if not k.startswith("QUANZU_")}
            env |= {
                "QUANZU_DATABASE_URL": PG_BENCH_URL,
                "QUANZU_DATA_DIR": str(workdir / "data"),
                "QUANZU_PII_KEY_FILE": str(workdir / "data" / "pii.key"),
            }
            cmd = [str(BIN / "quanzu"), "demo", "load"]
            subprocess.run(cmd, env=env, cwd=workdir, check=True, capture_output=True)  # noqa: S603
            print(f"generating {args.warnings:,} warnings", flush=True)
            t = time.perf_counter()
            generate(args.warnings, datetime.now(tz=LOCAL_TZ).replace(microsecond=0))
            print(f"  generation total {time.perf_counter() - t:.1f} s", flush=True)
        upgrade(PG_BENCH_URL)  # a database generated before a later revision gets it now (0014-0016)
        if not (args.reuse and args.reuse_duckdb and DUCK_FILE.exists()):
            print(f"copying to DuckDB ({DUCK_FILE})", flush=True)
            export_to_duckdb(workdir)
        sync_duckdb(workdir)
        tune_database()
        rows = count_rows()
        now = data_now()
        print(f"building the daily rollups at {now.isoformat()}", flush=True)
        build_rollups(now)
        print(f"measuring at {now.isoformat()}", flush=True)
        results = measure(now, args.runs, args.budget, args.raw_max_days)
        print_report(results, rows)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
