"""Warnings from a spreadsheet (Excel or CSV): one row per warning, Chinese or English headers.
Each row is validated and stored in its own right, so a bad row is reported and the rest still land."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from quanzu.auth.actor import Actor
from quanzu.codes import Role
from quanzu.intake import service
from quanzu.intake.schemas import WarningIn
from quanzu.kit.errors import DomainError, FieldError
from quanzu.kit.groupcommit import GroupCommit
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import parse

HEADERS = {
    "外部编号": "external_id",
    "来源": "source",
    "预警时间": "issued_at",
    "姓名": "name",
    "手机号": "phone",
    "身份证号": "id_number",
    "地址": "address",
    "单位": "employer",
    "年龄": "age",
    "性别": "gender",
    "诈骗类型": "scam_type",
    "风险等级": "risk_level",
    "涉案金额": "amount_at_risk",
    "描述": "description",
    "涉诈联系方式": "scam_contacts",
}
TARGET_FIELDS = ("name", "phone", "id_number", "address", "employer", "age", "gender")
IMPORT_ACTOR = Actor(kind="system", id=None, name="table-import", role=Role.ADMIN)


@dataclass(frozen=True, slots=True)
class RowResult:
    row: int
    status: int | None = None
    case_id: int | None = None
    errors: list[FieldError] | None = None


def read_table(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True, data_only=True).active
        if sheet is None:
            return []
        rows = list(sheet.iter_rows(values_only=True))
        if not rows:
            return []
        header = [str(h or "").strip() for h in rows[0]]
        return [dict(zip(header, r, strict=False)) for r in rows[1:] if any(v not in (None, "") for v in r)]
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def to_warning_dict(raw: dict[str, Any], default_source: str) -> dict[str, Any]:
    row = {HEADERS.get(str(k).strip(), str(k).strip()): v for k, v in raw.items() if v not in (None, "")}
    target = {f: str(row.pop(f)) if f != "age" else row.pop(f) for f in TARGET_FIELDS if f in row}
    contacts = str(row.pop("scam_contacts", "") or "")
    row["target"] = target
    row.setdefault("source", default_source)
    if "issued_at" in row and not isinstance(row["issued_at"], str):
        row["issued_at"] = row["issued_at"].isoformat()  # Excel cells arrive as datetimes
    row["scam_contacts"] = [
        {"kind": part.split(":", 1)[0].strip(), "value": part.split(":", 1)[1].strip()}
        for part in contacts.replace("；", ";").split(";")
        if ":" in part
    ]
    return {k: (str(v) if k in ("external_id", "amount_at_risk") else v) for k, v in row.items()}


def import_rows(
    factory: sessionmaker[Session], rt: Runtime, rows: list[dict[str, Any]], *, default_source: str = "manual"
) -> list[RowResult]:
    """Every row is validated first; the valid ones are stored a group at a time in a shared
    transaction (`GroupCommit`), each in its own right: a refused row is reported, the rest land."""
    results: dict[int, RowResult] = {}
    valid: list[tuple[int, WarningIn]] = []
    for number, raw in enumerate(rows, start=2):  # row 1 is the header, as the user sees the sheet
        try:
            valid.append((number, parse(WarningIn, to_warning_dict(raw, default_source))))
        except DomainError as exc:
            results[number] = _refused(number, exc)
    works = [(_receiver(rt, warning), service.lock_keys(rt, warning)) for _number, warning in valid]
    for (number, _warning), outcome in zip(valid, GroupCommit(factory).write(works), strict=True):
        if isinstance(outcome, DomainError):
            results[number] = _refused(number, outcome)
        elif isinstance(outcome, Exception):
            raise outcome
        else:
            results[number] = RowResult(number, outcome.status, outcome.accepted.case_id)
    return [results[number] for number in sorted(results)]


def _receiver(rt: Runtime, warning: WarningIn) -> Callable[[Session], service.IntakeOutcome]:
    return lambda session: service.receive(session, rt, IMPORT_ACTOR, warning)


def _refused(number: int, exc: DomainError) -> RowResult:
    return RowResult(number, errors=getattr(exc, "errors", None) or [FieldError("", exc.message)])
