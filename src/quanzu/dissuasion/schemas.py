"""Inputs of the workflow API, validated at the edge with the field named in every error."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from quanzu.codes import ContactKind
from quanzu.dissuasion.rules import STEP_OUTCOMES
from quanzu.kit.identifiers import normalise_any_phone

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), decimal_places=2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepIn(_Strict):
    """A step as done (with `outcome`), or started and still going (no outcome: e.g. on the way
    to the target's home while analysis runs in parallel). `sign` takes no outcome."""

    kind: Literal["sign", "phone", "analysis", "onsite_search", "verify_identity", "face_to_face"]
    outcome: Annotated[Text, StringConstraints(max_length=20)] | None = None
    note: Annotated[Text, StringConstraints(max_length=2000)] = ""

    @field_validator("outcome")
    @classmethod
    def _outcome_fits_kind(cls, outcome: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "sign" and outcome:
            raise ValueError("签收（sign）没有结果")
        allowed = STEP_OUTCOMES.get(str(kind))
        if allowed is not None and outcome is not None and outcome not in allowed:
            raise ValueError(f"{kind} 的结果应为 {', '.join(sorted(allowed))} 之一")
        return outcome


_QQ = re.compile(r"^[1-9]\d{4,11}$")
_WECHAT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{5,19}$|^wxid_[A-Za-z0-9]{6,30}$")
_ACCOUNT = re.compile(r"^\d{10,30}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class ReverseCheckIn(_Strict):
    """One fraudster contact for the reverse-check list (倒查清单), normalised so that the same
    contact found in two cases is the same value."""

    kind: ContactKind
    value: Annotated[Text, StringConstraints(min_length=1, max_length=300)]
    note: Annotated[Text, StringConstraints(max_length=300)] = ""

    @field_validator("value")
    @classmethod
    def _valid_value(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        compact = value.replace(" ", "").replace("-", "")
        if kind == ContactKind.PHONE:
            e164 = normalise_any_phone(compact)
            if e164 is None:
                raise ValueError("不是有效的电话号码（境外号码请带 + 和国家代码）")
            return e164
        if kind == ContactKind.QQ and not _QQ.match(compact):
            raise ValueError("QQ 号应为 5–12 位数字")
        if kind == ContactKind.WECHAT and not _WECHAT.match(value):
            raise ValueError("微信号应为 6–20 位字母、数字、下划线或减号，以字母开头")
        if kind == ContactKind.BANK_ACCOUNT and not _ACCOUNT.match(compact):
            raise ValueError("银行账号应为 10–30 位数字")
        if kind == ContactKind.URL and not _URL.match(value):
            raise ValueError("网址应以 http:// 或 https:// 开头")
        return compact if kind in (ContactKind.QQ, ContactKind.BANK_ACCOUNT) else value


class CloseIn(_Strict):
    outcome: Literal["dissuaded", "lost", "not_fraud", "unreachable"]
    amount_protected: Money | None = Field(default=None, validate_default=True)
    amount_lost: Money | None = Field(default=None, validate_default=True)
    reverse_check: list[ReverseCheckIn] = Field(default_factory=list, max_length=100)
    note: Annotated[Text, StringConstraints(max_length=2000)] = ""

    @field_validator("amount_protected")
    @classmethod
    def _protected_fits_outcome(cls, amount: Decimal | None, info: ValidationInfo) -> Decimal | None:
        outcome = info.data.get("outcome")
        if outcome == "dissuaded" and amount is None:
            raise ValueError("劝阻成功需填写保护金额（可为 0）")
        if outcome != "dissuaded" and amount is not None:
            raise ValueError("仅劝阻成功（dissuaded）时填写")
        return amount

    @field_validator("amount_lost")
    @classmethod
    def _lost_fits_outcome(cls, amount: Decimal | None, info: ValidationInfo) -> Decimal | None:
        outcome = info.data.get("outcome")
        if outcome == "lost" and not amount:
            raise ValueError("已被骗（lost）需填写大于 0 的损失金额")
        if outcome != "lost" and amount is not None:
            raise ValueError("仅已被骗（lost）时填写")
        return amount


class EscalateIn(_Strict):
    reason: Annotated[Text, StringConstraints(min_length=1, max_length=500)]


class AssignIn(_Strict):
    user: Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class TakeoverIn(_Strict):
    mode: Literal["takeover", "cohandle"] = "takeover"
    note: Annotated[Text, StringConstraints(max_length=500)] = ""


class RouteIn(_Strict):
    station: Annotated[Text, StringConstraints(min_length=1, max_length=32)]
    note: Annotated[Text, StringConstraints(max_length=500)] = ""
