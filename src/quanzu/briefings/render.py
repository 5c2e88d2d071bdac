"""Renderings of one computed briefing: an HTML document (also the source of the PDF), the PDF,
and an Excel workbook. All three read the same `Briefing`, so they cannot disagree.

The PDF is WeasyPrint rendering the HTML document: Pango shapes the text with the system's
OpenType CJK fonts (Debian `fonts-noto-cjk`, installed by `scripts/ensure-fonts.sh`), so the
Chinese text is embedded as real, extractable text. The charts are SVG drawn here (no plotting
library, nothing fetched) and embedded as images (data URIs), in the PDF and on the page alike."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from quanzu.briefings.schemas import Briefing
from quanzu.codes import HELP_ANSWER_LABELS, HELPER_KIND_LABELS, SLA_LABELS
from quanzu.reports.schemas import LOCAL_TZ
from quanzu.review.rules import NOTICE_STATE_LABELS, all_item_labels
from quanzu.web.i18n import Gettext, gettext_for

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
FONT = "'Noto Sans CJK SC', 'Noto Sans CJK', 'Source Han Sans SC', sans-serif"
MONEY_FORMAT = "#,##0.00"
TIME_FORMAT = "yyyy-mm-dd hh:mm"


def labels() -> dict[str, Any]:
    return {
        "SLA": SLA_LABELS,
        "ITEM": all_item_labels(),
        "HELPER": HELPER_KIND_LABELS,
        "ANSWER": HELP_ANSWER_LABELS,
        "NOTICE_STATE": NOTICE_STATE_LABELS,
    }


# --- formatting (also registered as template filters for the page) --------------------------------------


def yuan(amount: Decimal | float | int | None) -> str:
    return f"{Decimal(str(amount or 0)):,.2f}"


def local(value: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    return value.astimezone(LOCAL_TZ).strftime(fmt) if value else ""


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def label(gettext: Gettext, table: dict[str, str], code: str) -> str:
    """A code's label in the reader's language (the code itself when it has none)."""
    return gettext(table.get(code, code))


def _naive_local(value: datetime | None) -> datetime | None:
    """Excel has no time zones: local wall-clock time, as the briefing is read."""
    return value.astimezone(LOCAL_TZ).replace(tzinfo=None) if value else None


# --- charts ---------------------------------------------------------------------------------------------


def bar_chart(
    title: str, categories: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]]
) -> str:
    """A grouped bar chart as SVG: `series` is (name, colour, one value per category)."""
    width, height, left, top, bottom = 640, 260, 40, 36, 52
    plot_w, plot_h = width - left - 10, height - top - bottom
    peak = max([v for _, _, values in series for v in values] + [1.0])
    group_w = plot_w / max(len(categories), 1)
    bar_w = min(28.0, group_w * 0.8 / max(len(series), 1))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{escape(FONT)}" font-size="11">',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#999"/>',
    ]
    for i, category in enumerate(categories):
        x0 = left + i * group_w + (group_w - bar_w * len(series)) / 2
        for j, (_, colour, values) in enumerate(series):
            value = values[i]
            h = plot_h * value / peak
            x, y = x0 + j * bar_w, top + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{x + bar_w / 2 - 1:.1f}" y="{y - 3:.1f}" text-anchor="middle">{value:g}</text>'
            )
        cx = left + (i + 0.5) * group_w
        parts.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(category)}</text>'
        )
    for j, (name, colour, _) in enumerate(series):
        lx = left + j * 110
        parts.append(f'<rect x="{lx}" y="{height - 16}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 14}" y="{height - 7}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def charts(b: Briefing, _: Gettext) -> list[str]:
    """The briefing's charts as image data URIs."""
    k = b.kpis
    outcomes = bar_chart(
        _("当日立案处置结果"),
        [_("劝阻成功"), _("已被骗"), _("非诈骗"), _("无法联系"), _("处置中")],
        [(_("案件数"), "#2f6fb0", [k.dissuaded, k.lost, k.not_fraud, k.unreachable, k.open_cases])],
    )
    stations = bar_chart(
        _("各派出所预警与劝阻"),
        [s.name for s in b.stations],
        [
            (_("预警"), "#2f6fb0", [s.warnings for s in b.stations]),
            (_("劝阻成功"), "#3c9a5f", [s.dissuaded for s in b.stations]),
            (_("超时事项"), "#c0392b", [s.overdue_clocks + s.overdue_callbacks for s in b.stations]),
        ],
    )
    return [data_uri(outcomes), data_uri(stations)]


# --- HTML and PDF -----------------------------------------------------------------------------------------


@cache
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters.update(yuan=yuan, local=local, percent=percent)
    return env


def context(b: Briefing, locale: str) -> dict[str, Any]:
    _ = gettext_for(locale)
    return {"b": b, "_": _, "locale": locale, "charts": charts(b, _), "font": FONT, **labels()}


def html_document(b: Briefing, locale: str = "zh-Hans") -> str:
    return _env().get_template("briefing_doc.html").render(context(b, locale))


def pdf(b: Briefing, locale: str = "zh-Hans") -> bytes:
    from weasyprint import HTML  # imported on use: loading Pango is not free

    out: bytes = HTML(string=html_document(b, locale), base_url=str(TEMPLATES)).write_pdf()
    return out


# --- Excel --------------------------------------------------------------------------------------------------

Cell = str | int | float | Decimal | datetime | None


def xlsx(b: Briefing, locale: str = "zh-Hans") -> bytes:
    _ = gettext_for(locale)
    lab = labels()
    book = Workbook()
    summary = book.active
    summary.title = _("概要")
    k = b.kpis
    where = b.station.name if b.station else _("全区")
    rows: list[tuple[str, Cell]] = [
        (_("日报"), f"{where} {b.day.isoformat()}"),
        (_("接收预警"), k.warnings),
        (_("新立案件"), k.cases),
        (_("劝阻成功"), k.dissuaded),
        (_("挽回金额（元）"), k.money_protected),
        (_("已被骗"), k.lost),
        (_("被骗金额（元）"), k.money_lost),
        (_("非诈骗"), k.not_fraud),
        (_("无法联系"), k.unreachable),
        (_("处置中"), k.open_cases),
        (_("首次见面劝阻成功率"), k.first_meeting_success_rate),
        (_("超时未办时限"), b.overdue_clocks),
        (_("逾期回访"), b.overdue_callbacks),
        (_("升级"), b.escalations),
        (_("复查完成"), b.review.decided),
        (_("复查发现"), b.review.findings),
        (_("问责通知"), b.review.notices_issued),
        (_("社会力量求助"), b.guards.requested),
        (_("社会力量回复"), b.guards.answered),
        (_("率先见到本人"), b.guards.first_to_reach),
        (_("交接班"), b.handovers),
        (_("生成时间"), _naive_local(b.computed_at)),
    ]
    _fill(summary, [_("项目"), _("数值")], [list(r) for r in rows])
    for row in summary.iter_rows(min_row=2, min_col=2, max_col=2):
        cell = row[0]
        figure = summary.cell(row=cell.row, column=1).value
        if isinstance(cell.value, Decimal):
            cell.number_format = MONEY_FORMAT
        elif figure == _("首次见面劝阻成功率"):
            cell.number_format = "0.0%"
        elif isinstance(cell.value, datetime):
            cell.number_format = TIME_FORMAT
    _sheet(
        book,
        _("派出所"),
        [
            _("代码"),
            _("派出所"),
            _("预警"),
            _("新立案件"),
            _("劝阻成功"),
            _("挽回金额（元）"),
            _("已被骗"),
            _("被骗金额（元）"),
            _("超时未办时限"),
            _("逾期回访"),
            _("升级"),
            _("复查发现"),
            _("率先见到本人"),
            _("交接班"),
        ],
        [
            [
                s.code,
                s.name,
                s.warnings,
                s.cases,
                s.dissuaded,
                s.money_protected,
                s.lost,
                s.money_lost,
                s.overdue_clocks,
                s.overdue_callbacks,
                s.escalations,
                s.findings,
                s.guard_first_reach,
                s.handovers,
            ]
            for s in b.stations
        ],
    )
    overdue: list[list[Cell]] = [
        [_("时限"), o.case_id, o.station, label(_, lab["SLA"], o.kind), _naive_local(o.due_at), None]
        for o in b.overdue_clock_list
    ]
    overdue += [
        [
            _("回访"),
            c.case_id,
            c.station,
            _("第 %d 次回访") % c.seq,
            _naive_local(c.due_at),
            _naive_local(c.overdue_at),
        ]
        for c in b.overdue_callback_list
    ]
    _sheet(
        book,
        _("超时事项"),
        [_("类别"), _("案件"), _("派出所"), _("事项"), _("应完成"), _("逾期时间")],
        overdue,
    )
    _sheet(
        book,
        _("升级"),
        [_("时间"), _("案件"), _("派出所"), _("级别"), _("原因")],
        [[_naive_local(e.at), e.case_id, e.station, e.tier, e.reason] for e in b.escalation_list],
    )
    reviews: list[list[Cell]] = [
        [label(_, lab["ITEM"], code), n] for code, n in b.review.findings_by_item.items()
    ]
    sheet = _sheet(book, _("复查"), [_("复查发现"), _("数量")], reviews)
    sheet.append([])
    sheet.append([_("问责通知"), _("案件"), _("派出所"), _("签发时间"), _("状态")])
    for n in b.review.notices:
        sheet.append(
            [
                n.notice_id,
                n.case_id,
                n.station,
                _naive_local(n.issued_at),
                label(_, lab["NOTICE_STATE"], n.state),
            ]
        )
    _sheet(
        book,
        _("社会力量"),
        [_("回复时间"), _("案件"), _("派出所"), _("类别"), _("求助对象"), _("回复"), _("率先见到本人")],
        [
            [
                _naive_local(g.answered_at),
                g.case_id,
                g.station,
                label(_, lab["HELPER"], g.helper_kind),
                g.helper,
                label(_, lab["ANSWER"], g.answer or ""),
                _("是") if g.first_to_reach else "",
            ]
            for g in b.guards.answers
        ],
    )
    _sheet(
        book,
        _("交接班"),
        [_("时间"), _("案件"), _("派出所"), _("交接记录")],
        [[_naive_local(h.at), h.case_id, h.station, h.note] for h in b.handover_notes],
    )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet(book: Workbook, title: str, header: list[str], rows: list[list[Cell]]) -> Any:
    sheet = book.create_sheet(title)
    _fill(sheet, header, rows)
    return sheet


def _fill(sheet: Any, header: list[str], rows: list[list[Cell]]) -> None:
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, Decimal):
                cell.number_format = MONEY_FORMAT
            elif isinstance(cell.value, datetime):
                cell.number_format = TIME_FORMAT
    for i, title in enumerate(header, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(10, 2 * len(title) + 4)
    sheet.freeze_panes = "A2"
