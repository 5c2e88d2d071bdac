"""The police–bank API: banks screen customers, report attempts and act on stop-payment requests;
officers watch targets and file stop-payment requests on their cases."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from quanzu.banks import service
from quanzu.banks.schemas import (
    BankEventIn,
    BankEventOut,
    BankLinkage,
    ScreenIn,
    ScreenOut,
    StopAckIn,
    StopPaymentIn,
    StopPaymentView,
    StopResultIn,
    WatchEndIn,
    WatchIn,
    parse_screen,
)
from quanzu.kit.validation import RowId, body_doc, parse
from quanzu.web.edge import json_body, machine_actor, run_service, state

router = APIRouter(prefix="/api/v1", tags=["banks"])
B = TypeVar("B", bound=BaseModel)
R = TypeVar("R")
BODY_MODELS = (ScreenIn, BankEventIn, WatchIn, WatchEndIn, StopPaymentIn, StopAckIn, StopResultIn)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "Not a bank system (bank endpoints) or not an officer (case endpoints)"},
    404: {"description": "No such case or request, or not the actor's (another bank's is 404 too)"},
    409: {"description": "Illegal in the request's current state (named in the message)"},
    422: {"description": "Invalid body; each error names its field"},
}


@router.get("/ping", include_in_schema=False)
async def ping() -> dict[str, bool]:
    """A fixed answer: the anchor bench/screen.py measures screening against."""
    return {"ok": True}


@router.post("/screen", response_model=ScreenOut, responses=_ERRORS, openapi_extra=body_doc(ScreenIn))
async def screen(request: Request) -> JSONResponse:
    """Is this customer on the watch list? Plain identifiers or, under `blinded`, hex
    HMAC-SHA256 of the normalised value with the bank's key (ID number: 18 characters, upper-case
    X; phone: E.164 such as +8613800000000; account: digits only). Every call is audited; the
    answer is sent once its audit entry is committed.

    The server answers this call through its lean route (`banks/screen_route.py`) with the same
    parser and service; this endpoint documents it and serves it under a root path."""
    body = parse_screen(await json_body(request))
    st = state(request)
    answer = await service.screen(st.reader, st.rt, await machine_actor(request), body)
    # Rendered here rather than by FastAPI's response_model pass: the hot path skips re-validation.
    return JSONResponse(answer.model_dump(mode="json"))


@router.post(
    "/bank-events",
    response_model=BankEventOut,
    status_code=201,
    responses={200: {"description": "A retry of a stored event", "model": BankEventOut}, **_ERRORS},
    openapi_extra=body_doc(BankEventIn),
)
async def post_bank_event(request: Request) -> JSONResponse:
    """A watched customer attempted a withdrawal or transfer. Name the watch (`watch_id` from a
    screening hit) or the customer's identifiers. 201 new; 200 a retry (same `external_id`)."""
    body = parse(BankEventIn, await json_body(request))
    out = await run_service(request, lambda s, rt, a: service.record_bank_event(s, rt, a, body))
    return JSONResponse(out.model_dump(mode="json"), status_code=200 if out.replay else 201)


@router.get("/bank-events", response_model=list[BankEventOut], responses=_ERRORS)
async def list_bank_events(request: Request) -> list[BankEventOut]:
    """The calling bank's own reports, newest first."""
    return await run_service(request, lambda s, _rt, a: service.bank_events(s, a), read_only=True)


@router.get("/stop-payments", response_model=list[StopPaymentView], responses=_ERRORS)
async def list_stop_payments(request: Request, open: bool = True) -> list[StopPaymentView]:
    """The calling bank's stop-payment requests (open ones by default), accounts in full."""
    return await run_service(request, lambda s, rt, a: service.bank_stop_payments(s, rt, a, open_only=open))


@router.post(
    "/stop-payments/{stop_id}/acknowledge",
    response_model=StopPaymentView,
    responses=_ERRORS,
    openapi_extra=body_doc(StopAckIn),
)
async def acknowledge_stop(request: Request, stop_id: RowId) -> StopPaymentView:
    body = parse(StopAckIn, await json_body(request) if await request.body() else {})
    return await run_service(
        request, lambda s, rt, a: service.acknowledge_stop_payment(s, rt, a, stop_id, body)
    )


@router.post(
    "/stop-payments/{stop_id}/result",
    response_model=StopPaymentView,
    responses=_ERRORS,
    openapi_extra=body_doc(StopResultIn),
)
async def report_stop_result(request: Request, stop_id: RowId) -> StopPaymentView:
    """What the bank froze on each account: `stopped`, `partial` or `failed` with the amount."""
    body = parse(StopResultIn, await json_body(request))
    return await run_service(request, lambda s, rt, a: service.report_stop_result(s, rt, a, stop_id, body))


@router.get("/cases/{case_id}/banks", response_model=BankLinkage, responses=_ERRORS)
async def case_linkage(request: Request, case_id: RowId) -> BankLinkage:
    """The case's watch entries, bank events and stop-payment requests (identifiers masked)."""
    return await run_service(request, lambda s, rt, a: service.linkage(s, rt, a, case_id), read_only=True)


@router.post(
    "/cases/{case_id}/watch", response_model=BankLinkage, responses=_ERRORS, openapi_extra=body_doc(WatchIn)
)
async def watch_case(request: Request, case_id: RowId) -> BankLinkage:
    """Put the case's target on the banks' watch list, or extend the active watch."""
    body = parse(WatchIn, await json_body(request))
    return await run_service(request, lambda s, rt, a: service.watch_case(s, rt, a, case_id, body))


@router.post(
    "/cases/{case_id}/watch/end",
    response_model=BankLinkage,
    responses=_ERRORS,
    openapi_extra=body_doc(WatchEndIn),
)
async def end_watch(request: Request, case_id: RowId) -> BankLinkage:
    body = parse(WatchEndIn, await json_body(request))
    return await run_service(request, lambda s, rt, a: service.end_watch(s, rt, a, case_id, body))


@router.post(
    "/cases/{case_id}/stop-payments",
    response_model=StopPaymentView,
    status_code=201,
    responses=_ERRORS,
    openapi_extra=body_doc(StopPaymentIn),
)
async def file_stop_payment(request: Request, case_id: RowId) -> StopPaymentView:
    """File an emergency stop-payment request (紧急止付) with one bank for named accounts."""
    body = parse(StopPaymentIn, await json_body(request))
    return await run_service(request, lambda s, rt, a: service.file_stop_payment(s, rt, a, case_id, body))


@router.post(
    "/cases/{case_id}/stop-payments/{stop_id}/cancel", response_model=StopPaymentView, responses=_ERRORS
)
async def cancel_stop_payment(request: Request, case_id: RowId, stop_id: RowId) -> StopPaymentView:
    return await run_service(
        request, lambda s, rt, a: service.cancel_stop_payment(s, rt, a, case_id, stop_id)
    )
