"""POST /api/v1/warnings (the upstream contract) and its batch form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.intake import service
from quanzu.intake.schemas import BatchItemOut, BatchOut, WarningAccepted, WarningBatchIn, WarningIn
from quanzu.kit.errors import DomainError, FieldError, ValidationFailed
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import body_doc, parse
from quanzu.web.edge import actor, json_body, machine_actor, machine_actor_of, run_service, state
from quanzu.web.lean import LeanRoute, json_bytes

router = APIRouter(prefix="/api/v1", tags=["intake"])
PATH = "/api/v1/warnings"  # the lean route's (`WarningRoute`)

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    409: {"description": "Same (source, external_id) with different content"},
    413: {"description": "Body too large"},
    422: {"description": 'Invalid: `{"errors": [{"field": "target.id_number", "message": "..."}]}`'},
}


@router.post(
    "/warnings",
    response_model=WarningAccepted,
    status_code=201,
    responses={
        200: {
            "description": "Replay of a stored warning, or merged into an open case",
            "model": WarningAccepted,
        },
        **_ERRORS,
    },
    openapi_extra=body_doc(WarningIn),
)
async def post_warning(request: Request) -> JSONResponse:
    """Receive one warning (role `feed`). 201: a new case; 200: a replay of the same
    `(source, external_id)`, or a new signal merged into the person's open case.

    A feed's call (a bearer token) is answered by the lean route (`WarningRoute`) with the same
    parser and service; this endpoint documents it and serves browser sessions."""
    st = state(request)
    warning = parse(WarningIn, await json_body(request))
    bearer = await _bearer_caller(request)
    if bearer is not None:
        outcome = await st.writes.one(service.Receive.of(st.rt, bearer, warning))
    else:  # a browser session, resolved (with its CSRF check) in the warning's transaction
        outcome = await st.commits.submit(
            lambda session: service.receive(session, st.rt, actor(session, request), warning),
            lock_keys=service.lock_keys(st.rt, warning),
        )
    return JSONResponse(outcome.accepted.model_dump(mode="json"), status_code=outcome.status)


class WarningRoute(LeanRoute):
    """`POST /api/v1/warnings` with a bearer token, before the framework's stack (`web/lean.py`):
    the body parsed, then the credential checked, as `post_warning` does."""

    async def answer(self, authorization: str, body: Any) -> tuple[int, bytes]:
        warning = parse(WarningIn, body)
        caller = await machine_actor_of(self.st, authorization)
        outcome = await self.st.writes.one(service.Receive.of(self.st.rt, caller, warning))
        return outcome.status, json_bytes(outcome.accepted.model_dump(mode="json"))


async def _bearer_caller(request: Request) -> Actor | None:
    """An upstream feed calls with a bearer token: resolved through the credential cache, so a
    warning costs no credential query. A browser session (cookie) is resolved in the warning's
    transaction, with its CSRF check."""
    return await machine_actor(request) if "authorization" in request.headers else None


@router.post(
    "/warnings/batch", response_model=BatchOut, responses=_ERRORS, openapi_extra=body_doc(WarningBatchIn)
)
async def post_batch(request: Request) -> BatchOut:
    """Many warnings at once, stored in their order. Each item is validated and stored in its own
    right, so one bad item never blocks or half-stores the others; each gets the status the single
    endpoint gives."""
    st = state(request)
    batch = parse(WarningBatchIn, await json_body(request))
    if len(batch.warnings) > st.settings.max_batch_size:
        raise ValidationFailed([FieldError("warnings", f"最多 {st.settings.max_batch_size} 条")])
    caller = await _bearer_caller(request)
    if caller is None:  # a browser session, resolved (with its CSRF check) in a transaction
        caller = await run_service(request, _intake_caller)
    service.require_intake(caller)  # a bad token fails the whole call: 401
    results: dict[int, BatchItemOut] = {}
    valid: list[tuple[int, WarningIn]] = []
    for index, item in enumerate(batch.warnings):
        try:
            valid.append((index, parse(WarningIn, item)))
        except DomainError as exc:
            results[index] = _refused(index, exc)
    # One group, written in order: a later item about the same person merges into the case an
    # earlier one opened, as if they had been posted one by one.
    jobs = [service.Receive.of(st.rt, caller, w) for _index, w in valid]
    for (index, _w), outcome in zip(valid, await st.writes.group(jobs), strict=True):
        results[index] = _item(index, outcome)
    return BatchOut(results=[results[index] for index in sorted(results)])


def _intake_caller(_session: Session, _rt: Runtime, caller: Actor) -> Actor:
    return caller


def _item(index: int, outcome: service.IntakeOutcome | BaseException) -> BatchItemOut:
    if isinstance(outcome, DomainError):
        return _refused(index, outcome)
    if isinstance(outcome, BaseException):
        raise outcome
    return BatchItemOut(index=index, status=outcome.status, result=outcome.accepted)


def _refused(index: int, exc: DomainError) -> BatchItemOut:
    errors = getattr(exc, "errors", None) or [FieldError("", exc.message)]
    return BatchItemOut(
        index=index, status=exc.status_code, errors=[{"field": e.field, "message": e.message} for e in errors]
    )
