"""The `quanzu` command end to end on a fresh SQLite file: migrate, load, tokens, import, audit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from quanzu.cli import app
from tests.factories import id_number

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUANZU_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("QUANZU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QUANZU_PII_KEY_FILE", str(tmp_path / "pii.key"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_fresh_database_to_demo_district_and_tokens(cli_env: Path) -> None:
    run("db", "upgrade")
    out = run("demo", "load")
    assert "20" in out or "district loaded" in out
    assert (cli_env / "demo-feed.token").read_text().startswith("qzm_")
    assert (cli_env / "demo-bank.token").read_text().startswith("qzm_")
    assert (cli_env / "pii.key").exists() and oct(os.stat(cli_env / "pii.key").st_mode)[-3:] == "600"
    assert run("token", "create", "sl-d1").strip().startswith("qzp_")
    key = run("bank", "add", "TESTB", "测试银行").strip()
    assert len(bytes.fromhex(key)) == 32
    assert run("bank", "key", "TESTB").strip() == key
    unbound = runner.invoke(app, ["client", "add", "bank-y", "--role", "bank"])
    assert unbound.exit_code == 2 and "bank" in unbound.output
    assert run("client", "add", "bank-x", "--role", "bank", "--bank", "TESTB").strip().startswith("qzm_")
    dup = runner.invoke(app, ["client", "add", "bank-x", "--role", "bank", "--bank", "TESTB"])
    assert dup.exit_code == 2 and "exists" in dup.output
    bad = runner.invoke(app, ["token", "create", "nobody"])
    assert bad.exit_code == 2 and "nobody" in bad.output
    run(
        "user",
        "add",
        "new-officer",
        "dissuader",
        "--name",
        "新警员",
        "--unit",
        "SL-T1",
        "--password",
        "a long enough password",
    )
    assert "0 problems" in run("audit", "verify")


def test_warnings_import_from_excel_reports_each_row(cli_env: Path) -> None:
    run("db", "upgrade")
    run("demo", "load")
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(
        [
            "外部编号",
            "来源",
            "预警时间",
            "姓名",
            "手机号",
            "身份证号",
            "地址",
            "诈骗类型",
            "风险等级",
            "涉案金额",
            "涉诈联系方式",
        ]
    )
    ws.append(
        [
            "X-1",
            "hotline",
            "2026-11-28T10:00:00+08:00",
            "李四",
            "13962510002",
            id_number("19700101", "222"),
            "江苏省苏州市吴江区震泽镇宝塔街1号",
            "investment",
            "high",
            30000,
            "phone:+85298765432;app:币安智投",
        ]
    )
    ws.append(["X-2", "hotline", "2026-11-28T10:00:00+08:00", "王五", "123", "", "", "loan", "low", "", ""])
    path = cli_env / "warnings.xlsx"
    wb.save(path)
    result = runner.invoke(app, ["warnings", "import", str(path)])
    assert result.exit_code == 1
    assert "row 2: 201 case" in result.output
    assert "row 3: target.phone" in result.output
    assert "1 stored, 1 rejected" in result.output


def test_audit_verify_fails_on_tampering(cli_env: Path) -> None:
    run("db", "upgrade")
    run("demo", "load")
    head = run("audit", "head").strip()
    engine = create_engine(os.environ["QUANZU_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))  # someone with DDL rights
        conn.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1"))
    engine.dispose()
    result = runner.invoke(app, ["audit", "verify", "--expect-head", head])
    assert result.exit_code == 1
    assert "seq 1: content does not match its hash (edited)" in result.output


def test_every_command_follows_the_configured_policy_file(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`quanzu worker` and the other commands build their runtime like the server: a worker on the
    shipped default policy would fire SLA timers and briefings on the wrong schedule."""
    from importlib import resources

    from quanzu.cli import _runtime
    from quanzu.config import Settings

    default = (resources.files("quanzu.policy") / "default.yaml").read_text(encoding="utf-8")
    assert '  at: "08:00"' in default
    custom = cli_env / "policy.yaml"
    custom.write_text(default.replace('  at: "08:00"', '  at: "07:30"'), encoding="utf-8")
    monkeypatch.setenv("QUANZU_POLICY_FILE", str(custom))
    rt, engine = _runtime(Settings())
    engine.dispose()
    assert rt.policy.briefings.at.strftime("%H:%M") == "07:30"
