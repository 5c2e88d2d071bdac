"""The fraudster identifiers as Excel or CSV, for upstream blocking (封停) and stop-payment
requests. The centre's file carries the values in full (decrypted: an audited PII read); a
station's or branch's carries them masked. Every export is audited with its format and rows."""

from __future__ import annotations

from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import Actor
from quanzu.auth.scoping import DISTRICT_WIDE
from quanzu.codes import Role
from quanzu.intel import service
from quanzu.kit.errors import FieldError, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.reports.schemas import LOCAL_TZ
from quanzu.review.exports import FORMATS, Cell, Export, _csv, _xlsx

KIND_LABELS = {
    "phone": "电话",
    "qq": "QQ",
    "wechat": "微信",
    "app": "APP",
    "url": "网址（域名）",
    "bank_account": "银行账户",
    "other": "其他",
}
HEADER = ["类型", "号码/账号/名称", "受害人数", "案件数", "涉案金额（元）", "首次发现", "最近发现"]


def export(session: Session, rt: Runtime, actor: Actor, fmt: str, kind: str | None = None) -> Export:
    if fmt not in FORMATS:
        raise ValidationFailed([FieldError("format", f"格式可选：{', '.join(FORMATS)}")])
    rows = service.ranking(session, actor, kind=kind, limit=10_000)
    full = actor.role in DISTRICT_WIDE and actor.role is not Role.AUDITOR
    if full:
        rows = service.full_values(session, rt, rows)
    table: list[list[Cell]] = [
        [
            KIND_LABELS.get(r.kind, r.kind),
            r.value,
            r.victims,
            r.cases,
            r.money,
            r.first_seen.astimezone(LOCAL_TZ).replace(tzinfo=None),
            r.last_seen.astimezone(LOCAL_TZ).replace(tzinfo=None),
        ]
        for r in rows
    ]
    content = _xlsx("contacts", HEADER, table) if fmt == "xlsx" else _csv(HEADER, table)
    audit.record(
        session,
        rt.clock,
        actor,
        "export",
        "export",
        "intel.contacts",
        {"format": fmt, "kind": kind, "rows": len(table), "values": "full" if full else "masked"},
    )
    stamp = rt.clock.now().astimezone(LOCAL_TZ).strftime("%Y%m%d")
    return Export(f"fraud-contacts-{stamp}.{fmt}", FORMATS[fmt], content, len(table))
