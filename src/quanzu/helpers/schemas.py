"""Inputs and outputs of the social-forces API. Names and phones go out masked; only the audited
reveal answers them in full."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from quanzu.codes import HelpAnswer
from quanzu.kit.identifiers import normalise_phone

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Relation = Literal["relative", "work_leader", "community_worker"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _valid_phone(value: str) -> str:
    e164 = normalise_phone(value.replace(" ", "").replace("-", ""))
    if e164 is None:
        raise ValueError("不是有效的中国大陆手机号或固定电话")
    return e164


class ContactIn(_Strict):
    """Someone close to the target: a relative, a work-unit leader, a village/community worker."""

    relation: Relation
    relationship: Annotated[Text, StringConstraints(max_length=50)] = ""  # e.g. 儿子, 车间主任, 网格员
    name: Annotated[Text, StringConstraints(min_length=1, max_length=50)]
    phone: Annotated[Text, StringConstraints(min_length=3, max_length=32)]
    note: Annotated[Text, StringConstraints(max_length=200)] = ""

    _phone = field_validator("phone")(_valid_phone)


class ContactOut(BaseModel):
    contact_id: int
    relation: Relation
    relationship: str
    name: str  # masked
    phone: str  # masked
    note: str
    added_by: str
    created_at: datetime


class CandidateOut(BaseModel):
    """A suggested helper with the reason, best first. `kind` + `id` name it in a help request."""

    kind: Literal["guard", "contact"]
    id: int
    helper_kind: str  # guard | relative | work_leader | community_worker
    name: str  # masked
    phone: str  # masked
    employer: str | None = None
    community: str | None = None
    score: int
    reason: str
    already_asked: bool = False  # an open (unanswered, unexpired) request exists for this helper


class HelperRef(_Strict):
    kind: Literal["guard", "contact"]
    id: int = Field(ge=1)


class HelpRequestIn(_Strict):
    helpers: list[HelperRef] = Field(min_length=1, max_length=20)
    note: Annotated[Text, StringConstraints(max_length=200)] = ""  # added to the SMS, e.g. 请速去三楼车间


class HelpRequestOut(BaseModel):
    request_id: int
    case_id: int
    helper_kind: str
    helper: str  # masked name
    phone: str  # masked
    reason: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    status: Literal["sent", "opened", "answered", "expired"]
    opened_at: datetime | None
    answered_at: datetime | None
    answer: str | None
    answer_note: str
    first_to_reach: bool
    sms: str | None  # the SMS delivery: queued / delivered / failed / None (no gateway configured)


class HelpRequestCreated(HelpRequestOut):
    """The link is shown once, here only: it is the helper's credential (only its hash is kept).
    Give it by phone if no SMS gateway is configured."""

    link: str


class RevealIn(_Strict):
    kind: Literal["guard", "contact"]
    id: int = Field(ge=1)


class RevealedHelper(BaseModel):
    kind: Literal["guard", "contact"]
    id: int
    name: str
    phone: str


class AnswerIn(_Strict):
    """The helper's answer through the one-time link."""

    answer: HelpAnswer
    note: Annotated[Text, StringConstraints(max_length=500)] = ""


class LeaderboardRow(BaseModel):
    guard_id: int
    name: str  # masked
    employer: str | None
    community: str | None
    requests: int
    answered: int
    reached: int
    stopped: int
    first_to_reach: int


class HelperBrief(BaseModel):
    """What the helper's one-time page shows, and nothing more."""

    case_open: bool
    greeting: str  # 张先生 / 张女士 / 张**
    phone: str  # masked
    place: str  # community / employer, never the street address
    scam_type: str
    script: str  # what to say
    expires_at: datetime
    answered: bool
    answer: str | None


class GuardRowIn(_Strict):
    """One row of the guard registry sheet (after header aliases)."""

    name: Annotated[Text, StringConstraints(min_length=1, max_length=50)]
    phone: Annotated[Text, StringConstraints(min_length=3, max_length=32)]
    employer: Annotated[Text, StringConstraints(max_length=200)] | None = None
    workplace: Annotated[Text, StringConstraints(max_length=200)] | None = None
    community: Annotated[Text, StringConstraints(max_length=100)] | None = None
    trained: bool = False
    consented: bool = False
    active: bool = True

    _phone = field_validator("phone")(_valid_phone)

    @field_validator("trained", "consented", "active", mode="before")
    @classmethod
    def _yes_no(cls, value: object) -> object:
        return parse_yes_no(value)


_YES = {
    "是",
    "有",
    "已",
    "已培训",
    "已签",
    "已签署",
    "同意",
    "在岗",
    "在职",
    "启用",
    "有效",
    "y",
    "yes",
    "true",
    "1",
    "√",
}
_NO = {
    "否",
    "无",
    "未",
    "未培训",
    "未签",
    "未签署",
    "不同意",
    "离岗",
    "离职",
    "停用",
    "无效",
    "n",
    "no",
    "false",
    "0",
    "×",
}


def parse_yes_no(value: object) -> object:
    """Sheets say 是/否, Y/N, 已培训/未培训, 1/0 …; anything else is left for pydantic to refuse."""
    if value is None or value == "":
        return None
    if isinstance(value, bool | int):
        return bool(value)
    text = str(value).strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    return value
