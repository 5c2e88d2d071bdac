"""`quanzu backup` / `quanzu restore` on both engines: back up, change the data, restore; the data is
as it was at the backup and the audit chain verifies. A non-empty target is refused unless forced,
and a file that is not a backup never touches the target."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from quanzu.cli import app
from tests.conftest import PG_ADMIN_URL, TEST_PII_KEY, _worker
from tests.factories import id_number

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A database of its own (not the suite's shared one: a restore replaces everything)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
        name = ""
    else:
        name = f"quanzu_test_{_worker()}_backup"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("QUANZU_DATABASE_URL", url)
    monkeypatch.setenv("QUANZU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QUANZU_PII_KEY", TEST_PII_KEY)
    monkeypatch.chdir(tmp_path)
    yield url
    if name:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def import_warning(tmp_path: Path, external_id: str, seq: str) -> None:
    path = tmp_path / f"{external_id}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["external_id", "source", "issued_at", "phone", "id_number", "scam_type", "risk_level"]
        )
        writer.writerow(
            [
                external_id,
                "hotline",
                "2026-11-28T10:00:00+08:00",
                f"13962510{seq}",
                id_number(seq=seq),
                "loan",
                "high",
            ]
        )
    assert "1 stored" in run("warnings", "import", str(path))


def rows(url: str) -> dict[str, list[str]]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return {
                "warnings": list(
                    conn.execute(text("SELECT external_id FROM warnings ORDER BY id")).scalars()
                ),
                "clients": list(conn.execute(text("SELECT name FROM api_clients ORDER BY id")).scalars()),
                "audit": [str(n) for n in conn.execute(text("SELECT count(*) FROM audit_log")).scalars()],
            }
    finally:
        engine.dispose()


def test_backup_change_restore_gives_the_data_as_at_backup(database: str, tmp_path: Path) -> None:
    run("db", "upgrade")
    run("client", "add", "provincial-feed", "--role", "feed")
    import_warning(tmp_path, "B-1", "101")
    at_backup = rows(database)
    dump = tmp_path / "nightly.backup"

    out = run("backup", "--to", str(dump))
    assert "backup verified" in out and "0 problems" in out and "warnings 1" in out
    assert dump.stat().st_size > 0

    import_warning(tmp_path, "B-2", "102")  # life goes on after the backup …
    run("client", "add", "late-feed", "--role", "feed")
    assert rows(database) != at_backup

    refused = run("restore", str(dump), code=2)
    assert "--force" in refused
    assert rows(database)["warnings"] == ["B-1", "B-2"]  # refused means untouched

    out = run("restore", str(dump), "--force")
    assert "restore verified" in out
    assert rows(database) == at_backup
    assert "0 problems" in run("audit", "verify")


def test_backup_defaults_to_the_data_dir_never_overwrites_and_restore_refuses_a_non_backup(
    database: str, tmp_path: Path
) -> None:
    run("db", "upgrade")
    import_warning(tmp_path, "B-7", "107")
    out = run("backup")
    made = list((tmp_path / "backups").iterdir())
    assert len(made) == 1 and made[0].name.startswith("quanzu-") and str(made[0]) in out
    assert "exists already" in run("backup", "--to", str(made[0]), code=1)
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"this is not a database" * 100)
    run("restore", str(junk), "--force", code=1)
    assert rows(database)["warnings"] == ["B-7"]
    assert "0 problems" in run("audit", "verify")
