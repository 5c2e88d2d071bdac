"""The anti-fraud guard registry (反诈卫士名册): importing it from a sheet (Excel or CSV, Chinese or
English headers), all or nothing, idempotent on the phone number's blind index."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth.actor import Actor
from quanzu.helpers import ranking, repository
from quanzu.helpers.schemas import GuardRowIn
from quanzu.helpers.service import GUARD_NAME, GUARD_PHONE, regions
from quanzu.kit.crypto import mask_name, mask_phone
from quanzu.kit.errors import FieldError, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import field_errors
from quanzu.models.helpers import Guard

HEADERS = {
    "姓名": "name",
    "手机号": "phone",
    "手机": "phone",
    "电话": "phone",
    "联系电话": "phone",
    "单位": "employer",
    "工作单位": "employer",
    "企业": "employer",
    "企业名称": "employer",
    "工作地点": "workplace",
    "岗位": "workplace",
    "车间/部门": "workplace",
    "社区": "community",
    "村/社区": "community",
    "所在社区": "community",
    "居住社区": "community",
    "培训": "trained",
    "是否培训": "trained",
    "已培训": "trained",
    "同意书": "consented",
    "是否同意": "consented",
    "签署同意书": "consented",
    "状态": "active",
    "是否在岗": "active",
    "在岗": "active",
}
FIELDS = frozenset(GuardRowIn.model_fields)


@dataclass
class GuardImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[FieldError] = field(default_factory=list)


def _row_dict(raw: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in raw.items():
        name = HEADERS.get(str(key or "").strip(), str(key or "").strip().lower())
        if name in FIELDS and value not in (None, ""):
            out[name] = (
                value if isinstance(value, bool | int) and name not in ("phone",) else str(value).strip()
            )
    return out


def parse_rows(rows: list[dict[str, Any]]) -> tuple[list[tuple[int, GuardRowIn]], list[FieldError]]:
    """Every row validated; errors name the row as the user sees the sheet (header is row 1)."""
    parsed, errors = [], []
    seen: dict[str, int] = {}
    for number, raw in enumerate(rows, start=2):
        try:
            row = GuardRowIn.model_validate(_row_dict(raw))
        except ValidationError as exc:
            errors += field_errors(exc, prefix=f"第{number}行")
            continue
        if row.phone in seen:
            errors.append(FieldError(f"第{number}行.phone", f"手机号与第{seen[row.phone]}行重复"))
            continue
        seen[row.phone] = number
        parsed.append((number, row))
    return parsed, errors


def import_guards(
    session: Session, rt: Runtime, actor: Actor, rows: list[dict[str, Any]]
) -> GuardImportReport:
    """All or nothing: any bad row refuses the whole sheet (422 listing every problem), so the
    registry is never half-updated. A phone already registered updates that guard."""
    parsed, errors = parse_rows(rows)
    if errors:
        raise ValidationFailed(errors)
    report = GuardImportReport(rows=len(parsed))
    region_names = regions(session, rt)
    bidxs = {row.phone: rt.cipher.blind_index(row.phone, kind="phone") for _, row in parsed}
    existing = repository.guards_by_phone_bidx(session, bidxs.values())
    now = rt.clock.now()
    new_rows = []
    for _, row in parsed:
        values = _plain_values(row, region_names)
        guard = existing.get(bidxs[row.phone])
        if guard is None:
            new_rows.append(
                {
                    **values,
                    **_pii(rt, row.name, row.phone),
                    "phone_bidx": bidxs[row.phone],
                    "created_at": now,
                    "updated_at": now,
                }
            )
            report.created += 1
        elif _update(rt, guard, row, values, now):
            report.updated += 1
        else:
            report.unchanged += 1
    repository.insert_guards(session, new_rows)
    session.flush()
    audit.record(
        session,
        rt.clock,
        actor,
        "helpers.guards_imported",
        "guard_registry",
        "import",
        {
            "rows": report.rows,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
        },
    )
    return report


def _plain_values(row: GuardRowIn, region_names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "employer": row.employer,
        "employer_key": _employer_key(row.employer, region_names),
        "workplace": row.workplace,
        "community": row.community,
        "community_key": ranking.normalise_community(row.community) or None,
        "trained": row.trained,
        "consented": row.consented,
        "active": row.active,
    }


@lru_cache(maxsize=4096)
def _employer_key(employer: str | None, region_names: tuple[str, ...]) -> str | None:
    """Normalised once per distinct name: 12,000 guards work for a few hundred enterprises."""
    return ranking.normalise_enterprise(employer, region_names) or None


def _pii(rt: Runtime, name: str, phone: str) -> dict[str, Any]:
    return {
        "name_enc": rt.cipher.encrypt(name, context=GUARD_NAME),
        "name_masked": mask_name(name),
        "phone_enc": rt.cipher.encrypt(phone, context=GUARD_PHONE),
        "phone_masked": mask_phone(phone),
    }


def _update(rt: Runtime, guard: Guard, row: GuardRowIn, values: dict[str, Any], now: Any) -> bool:
    """Re-importing the same sheet changes nothing (and so writes nothing)."""
    name_changed = rt.cipher.decrypt(guard.name_enc, context=GUARD_NAME) != row.name
    changed = name_changed or any(getattr(guard, k) != v for k, v in values.items())
    if not changed:
        return False
    for key, value in values.items():
        setattr(guard, key, value)
    if name_changed:
        guard.name_enc = rt.cipher.encrypt(row.name, context=GUARD_NAME)
        guard.name_masked = mask_name(row.name)
    guard.updated_at = now
    return True


def bulk_guard_rows(
    rt: Runtime, guards: list[GuardRowIn], region_names: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Insert-ready rows for many guards at once (the demo's 12,000): normalised names computed
    once per distinct name."""
    now = rt.clock.now()
    return [
        {
            **_plain_values(g, region_names),
            **_pii(rt, g.name, g.phone),
            "phone_bidx": rt.cipher.blind_index(g.phone, kind="phone"),
            "created_at": now,
            "updated_at": now,
        }
        for g in guards
    ]
