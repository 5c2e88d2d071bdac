"""Turn pydantic's errors into the API's `{"field": "target.id_number", "message": ...}` list."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Path
from pydantic import BaseModel, ValidationError

from quanzu.kit.errors import FieldError, ValidationFailed

M = TypeVar("M", bound=BaseModel)
REF_TEMPLATE = "#/components/schemas/{model}"
# Ids are PostgreSQL `integer`s: a larger number names no row and must not reach the database
# (where it is an error, not a miss). Every `{…_id}` in a path is a RowId.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]

# Chinese first for the common cases; anything else keeps pydantic's own wording.
_MESSAGES = {
    "missing": "必填字段",
    "extra_forbidden": "不允许的字段",
    "string_too_long": "长度不能超过 {max_length} 个字符",
    "string_too_short": "长度不能少于 {min_length} 个字符",
    "string_type": "应为字符串",
    "string_pattern_mismatch": "格式不正确",
    "enum": "取值无效，可选：{expected}",
    "datetime_parsing": "时间格式无效，应为 ISO 8601，例如 2026-11-28T14:03:00+08:00",
    "datetime_from_date_parsing": "时间格式无效，应为 ISO 8601，例如 2026-11-28T14:03:00+08:00",
    "datetime_type": "应为 ISO 8601 时间",
    "decimal_parsing": "应为数字",
    "decimal_type": "应为数字",
    "decimal_max_places": "最多两位小数",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "list_type": "应为数组",
    "model_type": "应为对象",
    "dict_type": "应为对象",
    "json_invalid": "JSON 格式错误",
}


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    errors = []
    for err in exc.errors():
        path = ".".join(str(part) for part in err["loc"])
        field = ".".join(p for p in (prefix, path) if p) or "body"
        errors.append(FieldError(field, _message(err)))
    return errors


def _message(err: Any) -> str:
    if err["type"] == "value_error":
        return str(err["ctx"]["error"]) if "ctx" in err else str(err["msg"])
    template = _MESSAGES.get(err["type"])
    if template is None:
        return str(err["msg"])
    try:
        return template.format(**err.get("ctx", {}))
    except KeyError:
        return template


def parse(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc, prefix)) from None


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for an endpoint that reads its JSON body itself (to answer our own 422
    format): the body is `model`, whose schema the app factory adds to the components."""
    ref = {"$ref": REF_TEMPLATE.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}
