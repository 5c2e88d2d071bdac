"""Intake in process: what one warning costs the server's Python and the database, without HTTP.

    PYTHONPATH=src:bench .venv/bin/python bench/intake_inprocess.py [--warnings 300] [--warmup 50]
        [--db intake_inprocess] [--asgi] [--group N] [--profile FILE] [--fingerprint FILE]

`--group N`: N warnings at a time through the server's group commit (1: each alone through it,
as a lone request arrives); without it, each is received directly in a transaction of its own.

A fresh PostgreSQL database, migrated and loaded with the demo district; then demo-feed warnings
(fixed seed) go through the endpoint's steps one by one: parse the body, `intake.service.receive`
in its own transaction, render the answer; or, with --asgi, the whole application as the server
runs it (middleware, routing, the thread hop, after-commit hooks, the screening index's refresh),
called through its ASGI interface without sockets or uvicorn. The worker's timers fire every 20 warnings (not
counted), so linked cases and merged signals build up as they do in a real run. The clock is a
FakeClock that moves one second per warning, which makes every row the run writes the same on
every run of the same code, apart from random tokens and ciphertexts: the fingerprint printed at
the end (one hash per table) shows whether a change to intake changed what it writes.

Statement counts are exact; CPU (`time.process_time` of this one thread) is indicative only: the
machine is shared, so report the load average with it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import os
import pstats
import tempfile
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from benchkit import PG_ADMIN_URL, UNTHROTTLED
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from quanzu.app import create_app
from quanzu.auth import service as auth
from quanzu.auth.actor import Actor
from quanzu.config import Settings
from quanzu.demo import service as demo
from quanzu.demo.feed import DemoFeed
from quanzu.intake import service as intake
from quanzu.intake.schemas import WarningIn
from quanzu.kit.clock import FakeClock
from quanzu.kit.crypto import PiiCipher
from quanzu.kit.db import make_engine, make_sessionmaker, transaction
from quanzu.kit.groupcommit import GroupCommit
from quanzu.kit.migrate import upgrade
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import parse
from quanzu.org.cache import RosterCache
from quanzu.timers.service import fire_due
from quanzu.web.edge import AppState
from quanzu.worker.runner import TIMER_BATCH_HOOKS, TIMER_BATCHES, TIMER_HANDLERS

PII_KEY = "q3xQ0ZCw1cQd8Zb3m0aQ3L5p0YbX9b2h8cZ1s6T4u7w="  # bench-only key (the tests' one)
START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
SEED = 7
WORKER_EVERY = 20
# Columns whose values are random on every run (tokens, nonces of ciphertexts, hashes of them).
RANDOM_COLUMNS = ("secret", "password_hash", "token_hash", "prefix")


@dataclass
class Tally:
    statements: int = 0
    parse_s: float = 0.0
    receive_s: float = 0.0
    render_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    calls: int = 0  # Python function calls (with --profile): exact, unlike CPU time

    def add(self, statements: int, t0: float, t1: float, t2: float, t3: float) -> None:
        """One measured step: parsing from t0 to t1, receiving (and commit) to t2, rendering to t3."""
        self.statements += statements
        self.parse_s += t1 - t0
        self.receive_s += t2 - t1
        self.render_s += t3 - t2

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


@contextmanager
def counting(engine: Engine) -> Iterator[list[int]]:
    count = [0]

    def on_execute(*_args: Any) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def fresh_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def setup(url: str) -> tuple[Engine, Runtime, Actor, str]:
    upgrade(url)
    engine = make_engine(url)
    # With the roster cache, as a serving process has it (a CLI process has none).
    rt = Runtime(clock=FakeClock(START), cipher=PiiCipher(PII_KEY), roster=RosterCache())
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        token = demo.load(session, rt).feed_token
    if token is None:
        raise RuntimeError("the demo feed client was not created")
    with transaction(factory) as session:
        caller = auth.authenticate(session, rt, token)
    return engine, rt, caller, token


@contextmanager
def served(url: str, token: str, rt: Runtime) -> Iterator[tuple[Engine, Runtime, Callable[[bytes], int]]]:
    """The application as `quanzu serve` builds it (its worker not started: `run` fires the
    timers), and a function posting one warning body through its ASGI interface."""
    settings = Settings.model_validate(
        {
            "database_url": url,
            "data_dir": Path(tempfile.mkdtemp(prefix="intake_inprocess_")),
            "pii_key": PII_KEY,
            **{k.removeprefix("QUANZU_").lower(): v for k, v in UNTHROTTLED.items()},
        }
    )
    app = create_app(settings, clock=rt.clock, start_worker=False)
    st: AppState = app.state.quanzu
    loop = asyncio.new_event_loop()
    headers = [
        (b"host", b"127.0.0.1"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
    ]

    async def call(body: bytes) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/v1/warnings",
            "raw_path": b"/api/v1/warnings",
            "query_string": b"",
            "root_path": "",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status = [0]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]

        await app(scope, receive, send)
        return status[0]

    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    try:
        yield st.engine, st.rt, lambda body: loop.run_until_complete(call(body))
    finally:
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


def run(
    engine: Engine,
    rt: Runtime,
    caller: Actor,
    args: argparse.Namespace,
    post: Callable[[bytes], int] | None = None,
) -> Tally:
    factory = make_sessionmaker(engine)
    feed = DemoFeed(SEED)
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    bodies = [
        json.loads(json.dumps(feed.next_warning(START + timedelta(seconds=i)), ensure_ascii=False))
        for i in range(args.warmup + args.warnings)
    ]
    tally = Tally()
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    if args.group:
        return run_grouped(factory, rt, caller, args, bodies)
    with counting(engine) as count:
        for i, body in enumerate(bodies):
            measured = i >= args.warmup
            before = count[0]
            if profiler and measured:
                profiler.enable()
            t0 = time.process_time()
            if post is not None:
                t1 = t0  # the application parses, receives and renders: all under "receive"
                status = post(json.dumps(body, ensure_ascii=False).encode())
                t2 = time.process_time()
            else:
                warning = parse(WarningIn, body)
                t1 = time.process_time()
                with transaction(factory) as session:
                    outcome = intake.receive(session, rt, caller, warning)
                status = outcome.status
                t2 = time.process_time()
                json.dumps(outcome.accepted.model_dump(mode="json"), ensure_ascii=False)
            t3 = time.process_time()
            if profiler and measured:
                profiler.disable()
            if measured:
                tally.add(count[0] - before, t0, t1, t2, t3)
                tally.count(status)
            clock.advance(timedelta(seconds=1))
            if (i + 1) % WORKER_EVERY == 0:
                worker_round(factory, rt)
    return finish_profile(profiler, args, tally)


def worker_round(factory: sessionmaker[Session], rt: Runtime) -> None:
    while fire_due(factory, rt, TIMER_HANDLERS, prepare=TIMER_BATCH_HOOKS, batches=TIMER_BATCHES):
        pass


def finish_profile(profiler: cProfile.Profile | None, args: argparse.Namespace, tally: Tally) -> Tally:
    if profiler:
        profiler.dump_stats(args.profile)
        tally.calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
    return tally


def run_grouped(
    factory: sessionmaker[Session], rt: Runtime, caller: Actor, args: argparse.Namespace, bodies: list[Any]
) -> Tally:
    """`--group N`: N warnings at a time through the server's group commit (one transaction for
    the N, as when N arrive together), the clock advancing a second per warning as above."""
    commits = GroupCommit(factory, max_batch=args.group)
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    tally = Tally()
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    engine = factory.kw["bind"]
    with counting(engine) as count:
        for start in range(0, len(bodies), args.group):
            chunk = bodies[start : start + args.group]
            measured = start >= args.warmup
            if profiler and measured:
                profiler.enable()
            before, t0 = count[0], time.process_time()
            warnings = [parse(WarningIn, body) for body in chunk]
            t1 = time.process_time()
            outcomes = commits.write(
                [(_receiver(rt, caller, w, clock), intake.lock_keys(rt, w)) for w in warnings]
            )
            t2 = time.process_time()
            for outcome in outcomes:
                assert isinstance(outcome, intake.IntakeOutcome), outcome
                json.dumps(outcome.accepted.model_dump(mode="json"), ensure_ascii=False)
                if measured:
                    tally.count(outcome.status)
            t3 = time.process_time()
            if profiler and measured:
                profiler.disable()
            if measured:
                tally.add(count[0] - before, t0, t1, t2, t3)
            if (start + len(chunk)) % WORKER_EVERY == 0:  # as one by one (N dividing it)
                worker_round(factory, rt)
    return finish_profile(profiler, args, tally)


def _receiver(
    rt: Runtime, caller: Actor, warning: WarningIn, clock: FakeClock
) -> Callable[[Session], intake.IntakeOutcome]:
    """One warning of a group, received a second after the one before it, as one by one."""

    def work(session: Session) -> intake.IntakeOutcome:
        outcome = intake.receive(session, rt, caller, warning)
        clock.advance(timedelta(seconds=1))
        return outcome

    return work


def fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    """(rows, hash) per table, random columns left out, rows in primary-key order. The schema's
    revision is not a row the run writes: left out, so that a migration alone does not change it."""
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version' ORDER BY tablename"
            )
        ).scalars()
        for table in list(tables):
            columns = [
                c
                for c in conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = 'public' AND table_name = :t AND data_type <> 'bytea' "
                        "ORDER BY ordinal_position"
                    ),
                    {"t": table},
                ).scalars()
                if c not in RANDOM_COLUMNS and not c.endswith(("_enc", "token"))
            ]
            order = "id" if "id" in columns else "1"
            select = ", ".join(f'"{c}"' for c in columns)
            rows = conn.execute(text(f'SELECT {select} FROM "{table}" ORDER BY {order}')).all()  # noqa: S608
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()[:16]
            out[table] = (len(rows), digest)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warnings", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--db", default="intake_inprocess", help="database name (dropped and recreated)")
    parser.add_argument("--asgi", action="store_true", help="through the whole application (ASGI)")
    parser.add_argument(
        "--group",
        type=int,
        default=0,
        help="warnings per transaction through the group commit (0: one by one, each received directly)",
    )
    parser.add_argument("--profile", help="write a cProfile of the measured warnings here")
    parser.add_argument("--fingerprint", help="write the per-table fingerprint (JSON) here")
    args = parser.parse_args()
    url = fresh_database(args.db)
    engine, rt, caller, token = setup(url)
    load0 = os.getloadavg()[0]
    if args.asgi:
        engine.dispose()
        with served(url, token, rt) as (engine, rt, post):
            tally = run(engine, rt, caller, args, post)
    else:
        tally = run(engine, rt, caller, args)
    load1 = os.getloadavg()[0]
    n = args.warnings
    print(f"{n} warnings after {args.warmup} warm-up, statuses {dict(sorted(tally.statuses.items()))}")
    print(f"statements / warning: {tally.statements / n:.2f}")
    total = tally.parse_s + tally.receive_s + tally.render_s
    print(
        f"CPU / warning: {total / n * 1000:.2f} ms (parse {tally.parse_s / n * 1000:.2f}, "
        f"receive+commit {tally.receive_s / n * 1000:.2f}, render {tally.render_s / n * 1000:.2f})"
    )
    if tally.calls:
        print(f"Python function calls / warning (profiled, so CPU above is inflated): {tally.calls / n:.0f}")
    print(f"load average {load0:.2f} -> {load1:.2f}")
    prints = fingerprint(engine)
    combined = hashlib.sha256(json.dumps(prints, sort_keys=True).encode()).hexdigest()[:16]
    print(f"fingerprint {combined}")
    if args.fingerprint:
        with open(args.fingerprint, "w") as f:
            json.dump(prints, f, indent=1, sort_keys=True)
    engine.dispose()


if __name__ == "__main__":
    main()
