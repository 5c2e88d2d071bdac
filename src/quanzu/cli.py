"""The `quanzu` command."""

from __future__ import annotations

import gc
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from quanzu.auth import service as auth
from quanzu.codes import Role
from quanzu.config import Settings
from quanzu.kit.clock import SystemClock
from quanzu.kit.crypto import PiiCipher
from quanzu.kit.db import make_engine, make_sessionmaker, transaction
from quanzu.kit.errors import DomainError, NotFound
from quanzu.kit.migrate import upgrade
from quanzu.kit.runtime import Runtime
from quanzu.policy.service import load_policy
from quanzu.simulation.command import simulate as simulate_command

app = typer.Typer(help="Quanzu 劝阻 — early-warning dissuasion platform", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
demo_app = typer.Typer(help="The demo district", no_args_is_help=True)
org_app = typer.Typer(help="Organisation, people, rosters", no_args_is_help=True)
user_app = typer.Typer(help="People who sign in", no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens", no_args_is_help=True)
client_app = typer.Typer(help="Machine clients (feeds, banks)", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail", no_args_is_help=True)
warnings_app = typer.Typer(help="Warnings", no_args_is_help=True)
bank_app = typer.Typer(help="Banks linked to the centre (警银联动)", no_args_is_help=True)
guards_app = typer.Typer(help="The anti-fraud guard registry (反诈卫士)", no_args_is_help=True)
model_app = typer.Typer(help="The learned scam-type model (研判)", no_args_is_help=True)
ingest_app = typer.Typer(help="Warnings from message streams", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (demo_app, "demo"),
    (org_app, "org"),
    (user_app, "user"),
    (token_app, "token"),
    (client_app, "client"),
    (audit_app, "audit"),
    (warnings_app, "warnings"),
    (bank_app, "bank"),
    (guards_app, "guards"),
    (model_app, "model"),
    (ingest_app, "ingest"),
):
    app.add_typer(sub, name=name)


def _runtime(settings: Settings, *, generic_plans: bool = False) -> tuple[Runtime, Engine]:
    engine = make_engine(settings.database_url, generic_plans=generic_plans)
    rt = Runtime(
        clock=SystemClock(),
        cipher=PiiCipher(settings.resolved_pii_key()),
        base_url=settings.base_url,
        data_dir=settings.data_dir,
        policy=load_policy(settings.policy_file),  # the worker's timers follow the configured policy
    )
    return rt, engine


def _run(fn: Callable[[Session, Runtime], None]) -> None:
    """Runs fn(session, rt) in one transaction; domain errors become a clear message and exit 2."""
    settings = Settings()
    rt, engine = _runtime(settings)
    factory = make_sessionmaker(engine)
    try:
        with transaction(factory) as session:
            fn(session, rt)
    except DomainError as exc:
        for e in getattr(exc, "errors", None) or []:
            typer.echo(f"error: {e.field}: {e.message}", err=True)
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the newest schema."""
    upgrade(Settings().database_url, revision)
    typer.echo("database is at " + revision)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    demo_feed: Annotated[float, typer.Option(help="post a demo warning every N seconds (0: off)")] = 0.0,
) -> None:
    """Run the web server (API, live channel, docs); with the embedded delivery worker by default."""
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings()
    stop = threading.Event()
    if demo_feed > 0:
        _start_demo_feed(settings, f"http://{host}:{port}", demo_feed, stop)
    try:
        if workers > 1:
            # Each process enforces its share of the rate limits (security/ratelimit.py).
            os.environ.setdefault("QUANZU_SERVER_PROCESSES", str(workers))
            # uvicorn kills a child that does not answer its health check in time (5 s by default) and
            # starts another: on a busy host, start-up alone can take longer, and the restarts never end.
            with _shared_writer(settings):
                uvicorn.run(
                    "quanzu.asgi:app",
                    host=host,
                    port=port,
                    workers=workers,
                    log_level="info",
                    timeout_worker_healthcheck=60,
                )
        else:
            from quanzu.app import create_app

            uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    finally:
        stop.set()


@contextmanager
def _shared_writer(settings: Settings) -> Iterator[None]:
    """One writer process for all the serving processes (kit/writer.py) on PostgreSQL, unless
    turned off (QUANZU_SHARED_WRITER=false) or already running (QUANZU_WRITER_SOCKET set). Not on
    SQLite: its writers queue on one lock anyway, and only PostgreSQL's NOTIFY carries what the
    writer commits (live events, watches) to the serving processes."""
    postgres = settings.database_url.startswith("postgresql")
    if not (postgres and settings.shared_writer) or settings.writer_socket is not None:
        yield
        return
    from quanzu.kit.writer import WriterProcess

    with tempfile.TemporaryDirectory(prefix="quanzu-writer-") as folder:  # mode 0700: ours alone
        path = Path(folder) / "writer.sock"
        os.environ["QUANZU_WRITER_SOCKET"] = str(path)  # the serving processes inherit it
        process = WriterProcess([sys.executable, "-m", "quanzu", "writer", "--socket", str(path)])
        process.start()
        try:
            yield
        finally:  # after the serving processes: the writer answers what they sent it, then stops
            process.stop()
            os.environ.pop("QUANZU_WRITER_SOCKET", None)


@app.command()
def writer(
    socket_path: Annotated[Path, typer.Option("--socket", help="the Unix socket to listen on")],
) -> None:
    """Write every serving process's warnings through one group commit (`serve --workers N` starts it)."""
    import quanzu.intake.service  # noqa: F401  (what its jobs run: imported before the heap is frozen)
    from quanzu.kit.groupcommit import GroupCommit
    from quanzu.kit.listener import PgListener
    from quanzu.kit.writer import WriterServer, serve_forever
    from quanzu.org.cache import RosterCache

    logging.basicConfig(level=logging.INFO)
    settings = Settings()
    rt, engine = _runtime(settings, generic_plans=True)  # intake's statements only: planned once
    listener = PgListener(engine)
    rt.roster = RosterCache.listening(listener)
    listener.start()
    try:
        commits = GroupCommit.configured(engine, settings.group_commit_max, settings.group_commit_writers)
        server = WriterServer(commits, rt, socket_path)
        # The modules' long-lived objects (the jobs' code, address and phone data): kept out of
        # every full collection, which would walk them all and hold up every process's warnings.
        serve_forever(server, on_start=gc.freeze)
    finally:
        listener.stop()
        engine.dispose()


def _start_demo_feed(settings: Settings, url: str, interval: float, stop: threading.Event) -> None:
    from quanzu.demo.feed import run_feed

    token_file = settings.data_dir / "demo-feed.token"
    if not token_file.exists():
        typer.echo("no demo feed token: run `quanzu demo load` first", err=True)
        raise typer.Exit(2)
    token = token_file.read_text().strip()
    threading.Thread(
        target=run_feed, args=(url, token, interval, stop), daemon=True, name="demo-feed"
    ).start()


@app.command()
def worker() -> None:
    """Run the delivery worker on its own (for deployments with several processes)."""
    from quanzu.worker.runner import Worker

    logging.basicConfig(level=logging.INFO)
    settings = Settings()
    rt, engine = _runtime(settings)
    Worker(
        make_sessionmaker(engine),
        rt,
        max_attempts=settings.delivery_max_attempts,
        timeout_s=settings.delivery_timeout_s,
    ).run_forever()


@demo_app.command("load")
def demo_load() -> None:
    """Create the demo district (20 stations, staff, 24×7 rosters) and the demo feed's client."""
    from quanzu.demo import service as demo

    settings = Settings()

    said: list[str] = []  # printed after commit: a closed pipe (`| head`) must not undo the load

    def go(session: Session, rt: Runtime) -> None:
        loaded = demo.load(session, rt)
        if loaded.report:
            r = loaded.report
            said.append(
                f"district loaded: {r.units} units, {r.areas} areas, {r.users} people, {r.shifts} shifts"
            )
        else:
            said.append("district already present")
        if loaded.guards:
            said.append(f"anti-fraud guards added: {loaded.guards}")
        for name, token in (("demo-feed", loaded.feed_token), ("demo-bank", loaded.bank_token)):
            if token:
                settings.data_dir.mkdir(parents=True, exist_ok=True)
                token_file = settings.data_dir / f"{name}.token"
                token_file.touch(mode=0o600)
                token_file.write_text(token + "\n")
        said.append(f"sign in as centre / sl-chief / sl-leader1 / sl-d1 …, password: {loaded.password}")

    _run(go)
    for line in said:
        typer.echo(line)


@org_app.command("import")
def org_import(file: Path) -> None:
    """Import an organisation YAML file, or a users / roster CSV file."""
    from quanzu.org.service import import_file

    def go(session: Session, rt: Runtime) -> None:
        r = import_file(session, rt, file)
        typer.echo(f"imported: {r.units} units, {r.areas} areas, {r.users} people, {r.shifts} shifts")

    _run(go)


@user_app.command("add")
def user_add(
    username: str,
    role: Role,
    name: Annotated[str, typer.Option(help="display name")],
    unit: Annotated[str | None, typer.Option(help="org unit code")] = None,
    password: Annotated[
        str | None, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = None,
) -> None:
    """Create or update a person who signs in."""
    from quanzu.org.service import add_user

    def go(session: Session, rt: Runtime) -> None:
        user = add_user(
            session,
            rt,
            {"username": username, "display_name": name, "role": role, "unit": unit, "password": password},
        )
        typer.echo(f"user {user.username} saved (id {user.id})")

    _run(go)


@token_app.command("create")
def token_create(user: str) -> None:
    """Print a new personal API token for USER (shown once)."""
    _run(lambda session, rt: typer.echo(auth.create_personal_token(session, rt, user)))


@client_app.command("add")
def client_add(
    name: str,
    role: Annotated[Role, typer.Option(help="feed or bank")],
    bank: Annotated[str | None, typer.Option(help="the registered bank a bank client speaks for")] = None,
) -> None:
    """Register a machine client and print its token (shown once)."""
    from quanzu.banks import repository as bank_repo

    def go(session: Session, rt: Runtime) -> None:
        found = bank_repo.bank_by_code(session, bank) if bank else None
        if bank and found is None:
            raise NotFound(f"no bank {bank!r}; register it with `quanzu bank add`")
        typer.echo(auth.create_client(session, rt, name, role, bank_id=found.id if found else None))

    _run(go)


@client_app.command("revoke")
def client_revoke(name: str) -> None:
    """Revoke every token of machine client NAME; serving processes refuse them at once."""
    _run(lambda session, rt: typer.echo(f"{auth.revoke_client_tokens(session, rt, name)} token(s) revoked"))


@client_app.command("token")
def client_token(name: str) -> None:
    """Print a new token for machine client NAME (shown once)."""
    _run(lambda session, rt: typer.echo(auth.new_client_token(session, rt, name)))


@bank_app.command("add")
def bank_add(code: str, name: str) -> None:
    """Register a bank; prints its shared blinding key (hex) for blinded screening."""
    from quanzu.banks import service as banks

    _run(lambda session, rt: typer.echo(banks.register_bank(session, rt, code, name)[1]))


@bank_app.command("branch")
def bank_branch(bank: str, code: str, name: str, address: str | None = None) -> None:
    """Add or rename a branch of a registered bank."""
    from quanzu.banks import service as banks

    _run(lambda session, rt: typer.echo(banks.add_branch(session, rt, bank, code, name, address).code))


@bank_app.command("key")
def bank_key(code: str) -> None:
    """Print a bank's blinding key again (the read is audited)."""
    from quanzu.banks import service as banks

    _run(lambda session, rt: typer.echo(banks.blinding_key(session, rt, code)))


@audit_app.command("head")
def audit_head() -> None:
    """Print the chain head as SEQ:HASH; keep it outside the database (e.g. in the daily report)
    so that `audit verify --expect-head` can detect entries cut off the end."""
    from quanzu.audit.repository import chain_head

    def go(session: Session, _rt: Runtime) -> None:
        seq, digest = chain_head(session)
        typer.echo(f"{seq}:{digest}")

    _run(go)


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[str | None, typer.Option(help="SEQ:HASH printed earlier by `audit head`")] = None,
) -> None:
    """Check the hash chain: exits 1 and lists the entries if anything was edited or deleted."""
    from quanzu.audit.service import verify

    failed = False
    head = None
    if expect_head:
        seq, _, digest = expect_head.partition(":")
        head = (int(seq), digest)

    def go(session: Session, _rt: Runtime) -> None:
        nonlocal failed
        checked, problems = verify(session, head)
        for p in problems:
            typer.echo(f"seq {p.seq}: {p.problem}", err=True)
        failed = bool(problems)
        typer.echo(f"{checked} entries checked, {len(problems)} problems")

    _run(go)
    if failed:
        raise typer.Exit(1)


@warnings_app.command("import")
def warnings_import(
    file: Path,
    source: Annotated[str, typer.Option(help="source code for rows without one")] = "manual",
) -> None:
    """Import warnings from an Excel (.xlsx) or CSV file, one row per warning; a report per row."""
    from quanzu.intake.tabular import import_rows, read_table

    settings = Settings()
    rt, engine = _runtime(settings)
    results = import_rows(make_sessionmaker(engine), rt, read_table(file), default_source=source)
    bad = 0
    for row in results:
        if row.errors:
            bad += 1
            for e in row.errors:
                typer.echo(f"row {row.row}: {e.field}: {e.message}", err=True)
        else:
            typer.echo(f"row {row.row}: {row.status} case {row.case_id}")
    typer.echo(f"{len(results) - bad} stored, {bad} rejected")
    if bad:
        raise typer.Exit(1)


@guards_app.command("import")
def guards_import(file: Path) -> None:
    """Import the guard registry from an Excel (.xlsx) or CSV file: all rows or none (every bad
    row is reported with its field); a phone already registered updates that guard."""
    from quanzu.auth.actor import Actor
    from quanzu.helpers.registry import import_guards
    from quanzu.intake.tabular import read_table

    rows = read_table(file)
    who = Actor(kind="system", id=None, name=f"guards-import:{file.name}", role=Role.ADMIN)

    def go(session: Session, rt: Runtime) -> None:
        r = import_guards(session, rt, who, rows)
        typer.echo(f"{r.rows} rows: {r.created} new, {r.updated} updated, {r.unchanged} unchanged")

    _run(go)


# The district simulator (src/quanzu/simulation): heavy imports happen only when it runs.
app.command("simulate")(simulate_command)


@app.command()
def backup(
    to: Annotated[
        Path | None, typer.Option(help="file to write (default: DATA_DIR/backups/quanzu-UTC.…)")
    ] = None,
) -> None:
    """Back up the whole database and verify the copy (SQLite: online backup + integrity_check;
    PostgreSQL: pg_dump -Fc, restored into a scratch database and compared); audit chain checked."""
    from quanzu.backup.service import BackupError, backup, default_path

    settings = Settings()
    dest = to or default_path(settings.data_dir, settings.database_url, SystemClock().now())
    try:
        report = backup(settings.database_url, dest)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"backup verified: {dest}")


@app.command()
def restore(
    path: Path,
    force: Annotated[bool, typer.Option(help="replace a database that already has tables")] = False,
) -> None:
    """Restore a backup made by `quanzu backup` into QUANZU_DATABASE_URL (stop the services first);
    refuses a database that already has tables unless --force; checks the audit chain after."""
    from quanzu.backup.service import BackupError, TargetNotEmpty, restore

    try:
        report = restore(Settings().database_url, path, force=force)
    except TargetNotEmpty as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in report.lines():
        typer.echo(line)
    typer.echo("restore verified")


@ingest_app.command("nats")
def ingest_nats(
    client: Annotated[
        str, typer.Option(help="the feed client the stream speaks for (`client add --role feed`)")
    ],
    url: str = "nats://127.0.0.1:4222",
    stream: str = "QUANZU_WARNINGS",
    subject: str = "quanzu.warnings",
    durable: str = "quanzu-intake",
    dead_subject: str = "quanzu.warnings.dead",
    batch: int = 50,
    ack_wait: Annotated[
        float, typer.Option(help="seconds before an unacknowledged message is redelivered")
    ] = 60.0,
    idle_exit: Annotated[
        float | None, typer.Option(help="stop after this many seconds without a message")
    ] = None,
) -> None:
    """Consume warnings from a NATS JetStream durable consumer: validated and stored exactly as
    `POST /api/v1/warnings`, acknowledged after commit, rejects to the dead-letter subject."""
    import asyncio
    import signal

    from quanzu.streams.jetstream import JetStreamConfig, JetStreamSource
    from quanzu.streams.service import ConsumeOptions, FeedUnavailable, WarningStore, consume

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    rt, engine = _runtime(settings)
    store = WarningStore(make_sessionmaker(engine), rt, client)
    config = JetStreamConfig(url, stream, subject, durable, dead_subject, ack_wait)

    async def run() -> str:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        source = await JetStreamSource.connect(config)
        try:
            tally = await consume(source, store, ConsumeOptions(batch=batch, idle_exit_s=idle_exit), stop)
        finally:
            await source.close()
        return tally.summary()

    try:
        typer.echo(asyncio.run(run()))
    except FeedUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


def main() -> None:
    app()


LabelledFile = Annotated[
    Path | None, typer.Option("--from", help="CSV of text,scam_type rows instead of the confirmed cases")
]


@model_app.command("train")
def model_train(source: LabelledFile = None) -> None:
    """Train on the confirmed cases (or --from FILE.csv), print the held-out evaluation and save
    the next version under QUANZU_DATA_DIR/models/scam_type (the server picks it up)."""
    from quanzu.intel import training

    settings = Settings()

    def work(session: Session, rt: Runtime) -> None:
        done = training.train(session, rt, settings.data_dir, source)
        if done.evaluation is not None:
            typer.echo(done.evaluation.text())
        typer.echo(f"saved model v{done.version} ({done.samples} examples): {done.path}")

    _run(work)


@model_app.command("evaluate")
def model_evaluate(source: LabelledFile = None) -> None:
    """Per-class precision, recall and F1 and the confusion matrix on a held-out quarter."""
    from quanzu.intel import training

    _run(lambda session, _rt: typer.echo(training.evaluate(session, source).text()))
