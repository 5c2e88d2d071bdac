"""The police–bank contracts of DESIGN.md (screening, bank events) and the officers' watch-list
and stop-payment inputs, validated at the edge with the field named in every error.

Identifiers are normalised before use; a bank blinding an identifier must normalise it the same
way first: ID numbers as 18 characters with an upper-case X, phone numbers in E.164 (+86…),
accounts as digits only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from quanzu.codes import RiskLevel
from quanzu.kit.identifiers import checked_id_number, checked_phone, cn_mobile_e164, id_number_problem
from quanzu.kit.validation import parse

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), decimal_places=2)]
Hex64 = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$")]
Code = Annotated[Text, StringConstraints(min_length=1, max_length=32)]
_ACCOUNT = re.compile(r"^\d{10,30}$")


def normalise_account(raw: str) -> str:
    compact = re.sub(r"[\s-]", "", raw)
    if not _ACCOUNT.match(compact):
        raise ValueError("银行账号应为 10–30 位数字")
    return compact


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BlindedIn(_Strict):
    """Hex HMAC-SHA256 of each normalised identifier under the bank's shared key."""

    id_number: Hex64 | None = None
    phone: Hex64 | None = None
    account: Hex64 | None = None


class IdentifiersIn(_Strict):
    id_number: Annotated[Text, StringConstraints(max_length=32)] | None = None
    phone: Annotated[Text, StringConstraints(max_length=32)] | None = None
    account: Annotated[Text, StringConstraints(max_length=40)] | None = None
    blinded: BlindedIn | None = None

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str | None) -> str | None:
        return checked_id_number(value) if value else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return checked_phone(value) if value else None

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return normalise_account(value) if value else None

    def plain(self) -> list[tuple[str, str]]:
        return [(k, v) for k in ("id_number", "phone", "account") if (v := getattr(self, k))]

    def blinded_values(self) -> list[tuple[str, str]]:
        if self.blinded is None:
            return []
        return [(k, v) for k in ("id_number", "phone", "account") if (v := getattr(self.blinded, k))]

    def has_any(self) -> bool:
        return bool(self.plain() or self.blinded_values())


Channel = Literal["counter", "atm", "mobile", "online", "other"]


class ScreenIn(IdentifiersIn):
    """`POST /api/v1/screen`: is this customer on the watch list?"""

    channel: Channel = "counter"
    amount: Money | None = None
    branch_code: Annotated[Text, StringConstraints(max_length=32)] | None = None

    @model_validator(mode="after")
    def _something_to_screen(self) -> ScreenIn:
        if not self.has_any():
            raise ValueError("至少提供一个身份证号、手机号或账号（明文或 blinded）")
        return self


# --- the screening call's own validator (the hot path) ------------------------------------------

_SCREEN_FIELDS = frozenset(ScreenIn.model_fields)
_BLINDED_FIELDS = frozenset(BlindedIn.model_fields)
_CHANNELS = frozenset(get_args(Channel))
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]\Z")
_ACCOUNT_COMPACT = re.compile(r"[0-9]{10,30}\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_AMOUNT = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?\Z")  # below 1e12, at most two decimals
_BRANCH = re.compile(r"[0-9A-Za-z_-]{1,32}\Z")


def parse_screen(data: Any) -> ScreenIn:
    """`parse(ScreenIn, data)` at a fraction of its cost for the bodies banks send: compact,
    already normalised values are checked here by hand; anything else (an error, a value that
    needs normalising, an unusual type) goes to pydantic, so every answer — the errors with
    their fields and messages included — is exactly the model's (tests/banks compares the two)."""
    fast = _screen_fast(data)
    return fast if fast is not None else parse(ScreenIn, data)


def _screen_fast(data: Any) -> ScreenIn | None:
    if type(data) is not dict or not _SCREEN_FIELDS.issuperset(data):
        return None
    id_number, phone, account = data.get("id_number"), data.get("phone"), data.get("account")
    if id_number is not None and (
        type(id_number) is not str or not _ID_NUMBER.match(id_number) or id_number_problem(id_number)
    ):
        return None
    if phone is not None and (type(phone) is not str or (phone := cn_mobile_e164(phone)) is None):
        return None
    if account is not None and (type(account) is not str or not _ACCOUNT_COMPACT.match(account)):
        return None
    blinded, raw = None, data.get("blinded")
    if raw is not None:
        if type(raw) is not dict or not _BLINDED_FIELDS.issuperset(raw):
            return None
        if not all(v is None or (type(v) is str and _HEX64.match(v)) for v in raw.values()):
            return None
        blinded = BlindedIn.model_construct(**{k: raw.get(k) for k in _BLINDED_FIELDS})
    channel = data.get("channel", "counter")
    if type(channel) is not str or channel not in _CHANNELS:
        return None
    amount, raw_amount = None, data.get("amount")
    if raw_amount is not None:
        if type(raw_amount) is not str or not _AMOUNT.match(raw_amount):
            return None
        amount = Decimal(raw_amount)
    branch = data.get("branch_code")
    if branch is not None and (type(branch) is not str or not _BRANCH.match(branch)):
        return None
    body = ScreenIn.model_construct(
        id_number=id_number,
        phone=phone,
        account=account,
        blinded=blinded,
        channel=cast(Channel, channel),
        amount=amount,
        branch_code=branch,
    )
    return body if body.has_any() else None


class StationContact(BaseModel):
    code: str
    name: str
    phone: str | None


class ScreenOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    hit: bool
    watch_id: int | None = None
    risk_level: RiskLevel | None = None
    advice: str | None = None
    station: StationContact | None = None


# Nearly every screening call is a miss: one shared, frozen answer (and, in the lean route, its
# rendering done once).
MISS = ScreenOut(hit=False)


class BankEventIn(IdentifiersIn):
    """`POST /api/v1/bank-events`: a watched customer's attempt. `external_id` (the bank's own
    reference) makes a retry harmless; without it the event's content is the key."""

    watch_id: int | None = Field(default=None, ge=1)
    external_id: Annotated[Text, StringConstraints(min_length=1, max_length=100)] | None = None
    kind: Literal["withdrawal", "transfer"]
    channel: Channel = "counter"
    amount: Money | None = None
    branch_code: Annotated[Text, StringConstraints(max_length=32)] | None = None
    action_taken: Literal["held", "delayed", "completed"]
    occurred_at: datetime
    note: Annotated[Text, StringConstraints(max_length=1000)] = ""

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("时间须带时区，例如 2026-11-28T14:05:00+08:00")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _names_the_customer(self) -> BankEventIn:
        if self.watch_id is None and not self.has_any():
            raise ValueError("提供 watch_id，或客户的身份证号、手机号、账号（明文或 blinded）")
        return self


class BankEventOut(BaseModel):
    event_id: int
    watch_id: int
    replay: bool
    occurred_at: datetime
    kind: str
    action_taken: str
    amount: Decimal | None
    branch_code: str | None


class WatchIn(_Strict):
    """An officer puts a case's target on the watch list, or extends the watch: `days` from now,
    and `keep_after_close` so that closing the case does not end it."""

    days: int | None = Field(default=None, ge=1, le=365)
    reason: Annotated[Text, StringConstraints(max_length=500)] = ""
    accounts: list[Annotated[Text, StringConstraints(max_length=40)]] = Field(
        default_factory=list, max_length=20
    )
    keep_after_close: bool = False

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(normalise_account(v) for v in values))


class WatchEndIn(_Strict):
    reason: Annotated[Text, StringConstraints(min_length=1, max_length=500)]


class WatchView(BaseModel):
    watch_id: int
    active: bool
    origin: str
    risk_level: str
    reason: str
    created_at: datetime
    expires_at: datetime
    keep_after_close: bool
    ended_at: datetime | None
    end_reason: str | None
    identifiers: list[str]  # masked, e.g. "手机号 138****2345"


class StopAccountIn(_Strict):
    account: Annotated[Text, StringConstraints(min_length=1, max_length=40)]
    holder_name: Annotated[Text, StringConstraints(max_length=50)] = ""
    amount: Annotated[Decimal, Field(gt=0, le=Decimal("1e12"), decimal_places=2)]

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        return normalise_account(value)


class StopPaymentIn(_Strict):
    bank: Code
    accounts: list[StopAccountIn] = Field(min_length=1, max_length=20)
    reason: Annotated[Text, StringConstraints(min_length=1, max_length=1000)]


class StopResultAccountIn(_Strict):
    account_id: int = Field(ge=1)
    result: Literal["stopped", "partial", "failed"]
    amount_stopped: Money

    @model_validator(mode="after")
    def _amount_fits_result(self) -> StopResultAccountIn:
        if self.result == "failed" and self.amount_stopped:
            raise ValueError("未能止付（failed）时止付金额应为 0")
        if self.result != "failed" and not self.amount_stopped:
            raise ValueError("止付成功或部分止付时须填写大于 0 的金额")
        return self


class StopResultIn(_Strict):
    accounts: list[StopResultAccountIn] = Field(min_length=1, max_length=20)
    note: Annotated[Text, StringConstraints(max_length=1000)] = ""


class StopAckIn(_Strict):
    note: Annotated[Text, StringConstraints(max_length=1000)] = ""


class StopAccountView(BaseModel):
    account_id: int
    account: str  # masked for officers; in full for the bank that must act on it
    holder: str | None
    amount: Decimal
    amount_stopped: Decimal | None
    result: str | None


class StopPaymentView(BaseModel):
    stop_payment_id: int
    case_id: int | None  # not shown to banks
    bank: str
    state: str
    reason: str
    requested_by: str | None
    requested_at: datetime
    ack_due_at: datetime
    acknowledged_at: datetime | None
    ack_breached_at: datetime | None
    resolved_at: datetime | None
    bank_note: str | None
    accounts: list[StopAccountView]


class BankLinkage(BaseModel):
    """The case page's and the case API's view of the linkage."""

    watches: list[WatchView]
    events: list[BankEventOut]
    stop_payments: list[StopPaymentView]
