"""POST /api/v1/warnings (the upstream contract) and its batch form."""

from __future__ import annotations

from collections.abc import Callable
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
from quanzu.web.edge import actor, json_body, machine_actor, run_service, state

router = APIRouter(prefix="/api/v1", tags=["intake"])

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
    `(source, external_id)`, or a new signal merged into the person's open case."""
    warning = parse(WarningIn, await json_body(request))
    outcome = await _receive(request, warning, await _bearer_caller(request))
    return JSONResponse(outcome.accepted.model_dump(mode="json"), status_code=outcome.status)


async def _bearer_caller(request: Request) -> Actor | None:
    """An upstream feed calls with a bearer token: resolved through the credential cache, so a
    warning costs no credential query. A browser session (cookie) is resolved in the warning's
    transaction, with its CSRF check."""
    return await machine_actor(request) if "authorization" in request.headers else None


async def _receive(request: Request, warning: WarningIn, caller: Actor | None) -> service.IntakeOutcome:
    """In a transaction shared with the warnings arriving at the same time (`GroupCommit`)."""
    st = state(request)
    return await st.commits.submit(
        _work(request, warning, caller), lock_keys=service.lock_keys(st.rt, warning)
    )


def _work(
    request: Request, warning: WarningIn, caller: Actor | None
) -> Callable[[Session], service.IntakeOutcome]:
    rt = state(request).rt

    def work(session: Session) -> service.IntakeOutcome:
        return service.receive(session, rt, caller or actor(session, request), warning)

    return work


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
    works = [(_work(request, w, caller), service.lock_keys(st.rt, w)) for _index, w in valid]
    for (index, _w), outcome in zip(valid, await st.commits.submit_group(works), strict=True):
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
