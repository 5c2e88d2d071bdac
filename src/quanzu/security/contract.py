"""The error half of the API contract: every refusal has the same body, and /openapi.json says
which refusals each operation can give (schemathesis holds us to it, tests/security)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from quanzu.kit.validation import REF_TEMPLATE, _message


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """`{"error": "validation_failed", "message": "...", "errors": [{"field": ..., "message": ...}]}`."""

    error: str
    message: str
    errors: list[FieldErrorOut] | None = None


_DESCRIPTIONS = {
    "401": "Missing, invalid or expired token",
    "403": "The actor's role may not do this",
    "404": "No such object, or another station's",
    "409": "Illegal move for the current state",
    "413": "Body larger than the limit",
    "422": 'Invalid input: `{"errors": [{"field": "target.id_number", "message": "..."}]}`',
    "429": "Too many requests for this credential or login name; see `Retry-After`",
}
_ANONYMOUS = {"/api/v1/auth/login"}


def declare_error_responses(spec: dict[str, Any]) -> None:
    """Adds the refusals any operation can give, each with the `ErrorOut` body, and replaces
    FastAPI's own 422 schema (our handler answers in ErrorOut form)."""
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorOut"] = ErrorOut.model_json_schema(ref_template=REF_TEMPLATE)
    components["FieldErrorOut"] = components["ErrorOut"].pop("$defs")["FieldErrorOut"]
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    error_content = {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorOut")}}}
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for code in _codes_for(path, method, operation):
                responses.setdefault(code, {"description": _DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code.startswith("4"):
                    response["content"] = error_content


def _codes_for(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    codes = ["422", "429"]
    if path not in _ANONYMOUS:
        codes += ["401", "403"]
    if "{" in path:
        codes.append("404")
    if method != "get":
        codes.append("409")
    if "requestBody" in operation or method in ("post", "put", "patch"):
        codes.append("413")
    return codes


async def request_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own parameter validation (query, path) in our 422 form, naming the field."""
    if not isinstance(exc, RequestValidationError):
        raise TypeError(exc)
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        field = ".".join(loc[1:] if loc and loc[0] in ("query", "path", "body", "header") else loc)
        errors.append({"field": field or "body", "message": _message(err)})
    message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse({"error": "validation_failed", "message": message, "errors": errors}, status_code=422)
