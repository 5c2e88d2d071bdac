"""`quanzu simulate` from the command line: a run, a comparison and a staffing search on tiny
scenarios, each writing what it says it writes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from quanzu.cli import app

runner = CliRunner()
TINY = "name: 小场景\ndays: 1\nstations: [SL]\n"


def _run(*args: str) -> str:
    result = runner.invoke(app, ["simulate", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_run_writes_its_report_json_and_database(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY, encoding="utf-8")
    out = tmp_path / "report.html"
    figures = tmp_path / "run.json"
    db = tmp_path / "run.sqlite3"
    _run(str(scenario), "--seed", "4", "--out", str(out), "--json", str(figures), "--db", str(db))
    data = json.loads(figures.read_text(encoding="utf-8"))
    assert data["scenario"] == "小场景" and data["seed"] == 4
    assert sum(data["race"]["outcomes"].values()) == data["kpis"]["cases"] > 0
    assert db.exists() and data["database"] == str(db)
    assert "echarts" in out.read_text(encoding="utf-8")


def test_compare_and_staffing_modes(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(TINY, encoding="utf-8")
    b.write_text(TINY + "social: {guards: false}\n", encoding="utf-8")
    figures = tmp_path / "compare.json"
    _run(
        "--compare", str(a), str(b), "--seeds", "2", "--out", str(tmp_path / "c.html"), "--json", str(figures)
    )
    comparison = json.loads(figures.read_text(encoding="utf-8"))
    assert comparison["seeds"] == [1, 2] and "b_minus_a" in comparison["metrics"]["dissuaded"]
    plan = tmp_path / "plan.json"
    _run(str(a), "--staffing-target", "0.5", "--seeds", "1", "--json", str(plan))
    assert json.loads(plan.read_text(encoding="utf-8"))["met"] is True
