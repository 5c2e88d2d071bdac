"""`quanzu guards import` on a fresh SQLite file: Chinese and English headers, Excel and CSV,
all rows or none with a report naming row and field, idempotent re-import."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from quanzu.cli import app

runner = CliRunner()
ROWS = [
    ["姓名", "手机号", "工作单位", "工作地点", "居住社区", "是否培训", "签署同意书", "状态"],
    ["李卫东", "138 0000 0001", "恒力集团", "一车间", "流虹社区", "是", "是", "在岗"],
    ["王芳", "13800000002", "盛虹集团有限公司", "", "垂虹社区", "否", "Y", ""],
]


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("QUANZU_DATABASE_URL", url)
    monkeypatch.setenv("QUANZU_PII_KEY_FILE", str(tmp_path / "pii.key"))
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return url


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def guards(url: str) -> list[tuple[str, str | None, str | None, bool, bool, bool]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT phone_masked, employer, employer_key, trained, consented, active"
                " FROM guards ORDER BY id"
            )
        ).all()
        names = conn.execute(text("SELECT count(*) FROM guards WHERE name_masked LIKE '%*%'")).scalar()
    engine.dispose()
    assert names == len(rows)  # names masked, the plain ones only encrypted
    return [(r[0], r[1], r[2], bool(r[3]), bool(r[4]), bool(r[5])) for r in rows]


def test_import_csv_then_excel_is_idempotent(cli_db: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["guards", "import", str(write_csv(tmp_path / "guards.csv", ROWS))])
    assert result.exit_code == 0, result.output
    assert "2 rows: 2 new, 0 updated, 0 unchanged" in result.output
    assert guards(cli_db) == [
        ("138****0001", "恒力集团", "恒力", True, True, True),
        ("138****0002", "盛虹集团有限公司", "盛虹", False, True, True),
    ]

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    # English headers, the same people; one moved employer, one unchanged.
    sheet.append(["name", "phone", "employer", "community", "trained", "consented"])
    sheet.append(["李卫东", "13800000001", "恒力集团", "流虹社区", "yes", "yes"])
    sheet.append(["王芳", "+8613800000002", "亨通集团", "垂虹社区", "no", "yes"])
    book.save(tmp_path / "guards.xlsx")
    again = runner.invoke(app, ["guards", "import", str(tmp_path / "guards.xlsx")])
    assert again.exit_code == 0, again.output
    # 李卫东's workplace (一车间) is not in this sheet: that is a change too.
    assert "2 rows: 0 new, 2 updated, 0 unchanged" in again.output
    same = runner.invoke(app, ["guards", "import", str(tmp_path / "guards.xlsx")])
    assert "2 rows: 0 new, 0 updated, 2 unchanged" in same.output
    assert [g[1] for g in guards(cli_db)] == ["恒力集团", "亨通集团"]


def test_a_bad_sheet_stores_nothing_and_names_every_problem(cli_db: str, tmp_path: Path) -> None:
    rows = [
        *ROWS,
        ["赵强", "12345", "恒力集团", "", "", "是", "是", "是"],  # row 4: not a phone number
        ["", "13800000009", "", "", "", "", "", ""],  # row 5: no name
        ["钱多", "13800000001", "", "", "", "也许", "", ""],  # row 6: duplicate phone and a bad flag
    ]
    result = runner.invoke(app, ["guards", "import", str(write_csv(tmp_path / "bad.csv", rows))])
    assert result.exit_code == 2
    assert "第4行.phone: 不是有效的中国大陆手机号或固定电话" in result.output
    assert "第5行.name" in result.output
    assert "第6行.trained" in result.output
    assert guards(cli_db) == []  # all or nothing
