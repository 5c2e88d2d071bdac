"""`quanzu backup` and `quanzu restore`.

SQLite: the online backup API (a consistent copy while the server keeps writing), then
`PRAGMA integrity_check` and the audit chain checked on the copy. PostgreSQL: `pg_dump -Fc` under an
exported snapshot, so the row counts taken in that snapshot are exactly what the dump holds; then
`pg_restore --list`, a restore into a scratch database, the counts compared and the audit chain
checked there. A restore refuses a database that already has tables unless forced, and checks the
result the same way. These are operations on the database as a whole, outside any unit of work:
they never run inside a request or a job."""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from quanzu.audit.service import verify as verify_chain
from quanzu.kit.db import make_engine, make_sessionmaker

# Counted in the backup and in its verification copy: the records that must never go missing.
KEY_TABLES = (
    "audit_log",
    "case_events",
    "cases",
    "warnings",
    "persons",
    "users",
    "api_clients",
    "outbox",
    "timers",
    "screening_log",
)


class BackupError(Exception):
    """The backup or restore could not be made or did not verify; the message says why."""


class TargetNotEmpty(BackupError):
    pass


@dataclass
class Report:
    path: Path
    engine: str
    counts: dict[str, int] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        size = self.path.stat().st_size if self.path.exists() else 0
        counted = ", ".join(f"{t} {n}" for t, n in self.counts.items())
        return [f"{self.engine}: {self.path} ({size:,} bytes)", f"rows: {counted}", *self.checks]


def default_path(data_dir: Path, url: str, now: datetime) -> Path:
    suffix = "sqlite3" if url.startswith("sqlite") else "pgdump"
    return data_dir / "backups" / f"quanzu-{now.strftime('%Y%m%dT%H%M%SZ')}.{suffix}"


def backup(url: str, dest: Path) -> Report:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        raise BackupError(f"{dest} exists already; choose another --to")
    try:
        return _backup_sqlite(url, dest) if url.startswith("sqlite") else _backup_postgres(url, dest)
    except BaseException:
        dest.unlink(missing_ok=True)  # never leave a half-made or unverified backup behind
        raise


def restore(url: str, source: Path, *, force: bool = False) -> Report:
    if not source.is_file():
        raise BackupError(f"no backup file {source}")
    if url.startswith("sqlite"):
        return _restore_sqlite(url, source, force=force)
    return _restore_postgres(url, source, force=force)


# --- checks shared by both engines ---------------------------------------------------------------


def _check_chain(url: str, report: Report) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        with make_sessionmaker(engine, read_only=True)() as session:
            checked, problems = verify_chain(session)
    finally:
        engine.dispose()
    if problems:
        raise BackupError(f"audit chain: {len(problems)} problems, first at seq {problems[0].seq}")
    report.checks.append(f"audit chain: {checked} entries checked, 0 problems")


def _compare(expected: dict[str, int], found: dict[str, int], report: Report) -> None:
    differ = {t: (expected[t], found.get(t)) for t in expected if expected[t] != found.get(t)}
    if differ:
        raise BackupError(f"row counts differ (backup, copy): {differ}")
    report.checks.append(f"row counts match in {len(expected)} tables")


# --- SQLite -------------------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(database)


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in KEY_TABLES if t in present}  # noqa: S608


def _sqlite_integrity(path: Path, report: Report) -> dict[str, int]:
    with _closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        try:
            result = conn.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a SQLite database: {exc}") from None
        if result != [("ok",)]:
            raise BackupError(f"integrity_check on {path}: {result[:5]}")
        report.checks.append("integrity_check: ok")
        return _sqlite_counts(conn)


def _backup_sqlite(url: str, dest: Path) -> Report:
    source = _sqlite_path(url)
    if not source.exists():
        raise BackupError(f"no database at {source}")
    report = Report(dest, "sqlite")
    with _closing(sqlite3.connect(source, timeout=30)) as src, _closing(sqlite3.connect(dest)) as dst:
        src.backup(dst)  # one step: a consistent snapshot, writers wait only for the copy
        report.counts = _sqlite_counts(dst)
    _sqlite_integrity(dest, report)
    _check_chain(f"sqlite:///{dest}", report)
    return report


def _restore_sqlite(url: str, source: Path, *, force: bool) -> Report:
    target = _sqlite_path(url)
    report = Report(source, "sqlite")
    expected = _sqlite_integrity(source, report)  # a bad file is refused before the target is touched
    if target.exists() and not force:
        with _closing(sqlite3.connect(f"file:{target}?mode=ro", uri=True)) as conn:
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if tables:
            raise TargetNotEmpty(f"{target} already holds {tables} tables; stop the services and use --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    with _closing(sqlite3.connect(source)) as src, _closing(sqlite3.connect(target, timeout=30)) as dst:
        src.backup(dst)  # replaces every page of the target, WAL included
        report.counts = _sqlite_counts(dst)
    _compare(expected, report.counts, report)
    _check_chain(url, report)
    return report


class _closing:
    """sqlite3's context manager commits but does not close; this closes."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *_exc: object) -> None:
        self.conn.close()


# --- PostgreSQL ---------------------------------------------------------------------------------


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(cmd: list[str]) -> str:
    tool = shutil.which(cmd[0])
    if tool is None:
        raise BackupError(f"{cmd[0]} not found (Debian: apt-get install postgresql-client)")
    done = subprocess.run([tool, *cmd[1:]], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{cmd[0]} failed ({done.returncode}): {done.stderr.strip()[:2000]}")
    return done.stdout


def _pg_counts(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, int]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    present = {str(r[0]) for r in rows}
    counts = {}
    for t in KEY_TABLES:
        if t in present:
            row = conn.execute(f"SELECT count(*) FROM {t}").fetchone()  # noqa: S608  (our own names)
            counts[t] = int(str(row[0])) if row else 0
    return counts


def _backup_postgres(url: str, dest: Path) -> Report:
    report = Report(dest, "postgresql")
    with psycopg.connect(_libpq(url)) as conn:
        # The counts and the dump see one snapshot: the transaction stays open until pg_dump is done.
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot_row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        snapshot = str(snapshot_row[0]) if snapshot_row else ""
        report.counts = _pg_counts(conn)
        _run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={dest}", _libpq(url)])
        conn.rollback()
    listing = _run(["pg_restore", "--list", str(dest)])
    missing = [t for t in report.counts if f"TABLE DATA public {t} " not in listing]
    if missing:
        raise BackupError(f"the dump lists no data for {missing}")
    report.checks.append(f"pg_restore --list: {listing.count(chr(10))} entries, data for every key table")
    _verify_in_scratch(url, dest, report.counts, report)
    return report


def _verify_in_scratch(url: str, dump: Path, expected: dict[str, int], report: Report) -> None:
    """Restores the dump into a new database next to the source, compares, checks the chain, drops it."""
    source = make_url(url)
    scratch = f"{source.database}_verify_{secrets.token_hex(4)}"[-63:]
    admin = _libpq(str(source.set(database="postgres")))
    scratch_url = str(source.set(database=scratch).render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    try:
        _run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(scratch_url)}", str(dump)])
        with psycopg.connect(_libpq(scratch_url)) as conn:
            found = _pg_counts(conn)
        _compare(expected, found, report)
        _check_chain(scratch_url, report)
        report.checks[-2:] = [f"restored into scratch database {scratch}: " + c for c in report.checks[-2:]]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _restore_postgres(url: str, source: Path, *, force: bool) -> Report:
    report = Report(source, "postgresql")
    _run(["pg_restore", "--list", str(source)])  # a file that is not a dump is refused untouched
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        tables = int(str(row[0])) if row else 0
        if tables and not force:
            name = make_url(url).database
            raise TargetNotEmpty(
                f"database {name} already holds {tables} tables; stop the services and use --force"
            )
        if tables:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    _run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={_libpq(url)}",
            str(source),
        ]
    )
    with psycopg.connect(_libpq(url)) as conn:
        report.counts = _pg_counts(conn)
    _check_chain(url, report)
    return report
