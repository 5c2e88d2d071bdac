"""Exports (导出) of cases, reviews and follow-up callbacks to Excel or CSV.

Rows are what the caller may read (`cases.repository.readable`), identifiers masked only, and
every export is audited: who, what, the filters and the row count. CSV is UTF-8 with a byte-order
mark so that Excel opens the Chinese text correctly."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from openpyxl import Workbook
from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import Actor
from quanzu.auth.scoping import case_scope, require_review_reader
from quanzu.codes import RISK_LABELS, SCAM_TYPE_LABELS, STATE_LABELS
from quanzu.kit.errors import FieldError, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.org import repository as org_repo
from quanzu.reports import service as reports
from quanzu.reports.schemas import LOCAL_TZ, KpiQuery
from quanzu.review import repository
from quanzu.review import service as review
from quanzu.review.rules import REVIEW_STATE_LABELS, item_label

KINDS = ("cases", "reviews", "followups")
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
OUTCOME_LABELS = {"dissuaded": "劝阻成功", "lost": "已被骗", "not_fraud": "非诈骗", "unreachable": "无法联系"}
Cell = str | int | float | Decimal | datetime | None


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    media_type: str
    content: bytes
    rows: int


def parse_name(name: str) -> tuple[str, str]:
    """`cases.xlsx` → ("cases", "xlsx"); anything else is a 422 naming the path part."""
    kind, _, fmt = name.partition(".")
    if kind not in KINDS:
        raise ValidationFailed([FieldError("kind", f"可导出：{', '.join(KINDS)}")])
    if fmt not in FORMATS:
        raise ValidationFailed([FieldError("format", f"格式可选：{', '.join(FORMATS)}")])
    return kind, fmt


def export(session: Session, rt: Runtime, actor: Actor, name: str, query: KpiQuery) -> Export:
    kind, fmt = parse_name(name)
    start, end = reports.resolve_period(query, rt.clock.now())
    if kind == "cases":
        case_scope(actor)
        header, rows = _cases(session, actor, start, end)
    elif kind == "reviews":
        require_review_reader(actor)
        header, rows = _reviews(session, rt, actor, start, end)
    else:
        case_scope(actor)
        header, rows = _followups(session, actor, start, end)
    content = _xlsx(kind, header, rows) if fmt == "xlsx" else _csv(header, rows)
    audit.record(
        session,
        rt.clock,
        actor,
        "export",
        "export",
        kind,
        {"format": fmt, "from": start.isoformat(), "to": end.isoformat(), "rows": len(rows)},
    )
    stamp = start.astimezone(LOCAL_TZ).strftime("%Y%m%d")
    return Export(f"{kind}-{stamp}.{fmt}", FORMATS[fmt], content, len(rows))


def _local(moment: datetime | None) -> datetime | None:
    """Local wall time without a zone: spreadsheets have no time zones."""
    return moment.astimezone(LOCAL_TZ).replace(tzinfo=None) if moment else None


def _cases(
    session: Session, actor: Actor, start: datetime, end: datetime
) -> tuple[list[str], list[list[Cell]]]:
    header = [
        "案件编号",
        "派出所",
        "接警时间",
        "状态",
        "风险等级",
        "诈骗类型",
        "对象",
        "手机号",
        "涉案金额",
        "签收时间",
        "首次联系时间",
        "结案时间",
        "结果",
        "止损金额",
        "损失金额",
        "升级层级",
    ]
    found = repository.export_cases(session, actor, start, end)
    units = org_repo.units_by_ids(session, {c.station_id for c, _ in found if c.station_id is not None})
    rows: list[list[Cell]] = []
    for case, person in found:
        unit = units.get(case.station_id) if case.station_id is not None else None
        rows.append(
            [
                case.id,
                unit.name if unit else "待分流",
                _local(case.opened_at),
                STATE_LABELS.get(case.state, case.state),
                RISK_LABELS.get(case.risk_level, case.risk_level),
                SCAM_TYPE_LABELS.get(case.scam_type, case.scam_type),
                person.name_masked,
                person.phone_masked,
                case.amount_at_risk,
                _local(case.signed_at),
                _local(case.first_contact_at),
                _local(case.closed_at),
                OUTCOME_LABELS.get(case.outcome or "", case.outcome),
                case.amount_protected,
                case.amount_lost,
                case.tier,
            ]
        )
    return header, rows


def _reviews(
    session: Session, rt: Runtime, actor: Actor, start: datetime, end: datetime
) -> tuple[list[str], list[list[Cell]]]:
    """Reviews of closures in the period (by when the case closed)."""
    header = [
        "复查编号",
        "案件编号",
        "派出所",
        "结案时间",
        "结果",
        "复查状态",
        "复查时间",
        "复查人",
        "不合格项",
        "改判理由",
        "问责通知",
    ]
    stmt = repository.readable_reviews(actor, start=start, end=end)
    rows: list[list[Cell]] = []
    for case, row, _name in repository.reviews(session, stmt, limit=100_000):
        view = review.get_review(session, rt, actor, row.id)
        failed = [item_label(i.code) for i in view.checklist if i.status == "failed"]
        rows.append(
            [
                row.id,
                case.id,
                view.station.name if view.station else "待分流",
                _local(row.closed_at),
                OUTCOME_LABELS.get(case.outcome or "", case.outcome),
                REVIEW_STATE_LABELS.get(row.state, row.state),
                _local(row.decided_at),
                row.decided_by,
                "；".join(failed),
                row.reason,
                view.notice_id,
            ]
        )
    return header, rows


def _followups(
    session: Session, actor: Actor, start: datetime, end: datetime
) -> tuple[list[str], list[list[Cell]]]:
    """Follow-up callbacks (回访) due in the period on cases the caller may read."""
    header = [
        "案件编号",
        "派出所",
        "第几次",
        "计划天数",
        "应回访时间",
        "完成时间",
        "是否联系上",
        "异常迹象数",
        "逾期标记时间",
    ]
    rows: list[list[Cell]] = []
    for callback, station in repository.export_followups(session, actor, start, end):
        rows.append(
            [
                callback.case_id,
                station or "",
                callback.seq,
                callback.day,
                _local(callback.due_at),
                _local(callback.done_at),
                None if callback.reached is None else ("是" if callback.reached else "否"),
                len(callback.warning_signs or []),
                _local(callback.overdue_marked_at),
            ]
        )
    return header, rows


def _csv(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            ["" if v is None else (v.isoformat(sep=" ") if isinstance(v, datetime) else v) for v in row]
        )
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    sheet.append(list(header))
    for row in rows:
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
    sheet.freeze_panes = "A2"
    for column in sheet.iter_cols(min_row=1, max_row=1):
        for cell in column:
            if any(isinstance(r[cell.column - 1], datetime) for r in rows[:1]):
                sheet.column_dimensions[cell.column_letter].width = 18
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
