"""The follow-up, awakening-room and protective-action API for the officers' app and integrations.
Thin: parse, call one service, render."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Query, Request

from quanzu.followups import service
from quanzu.followups.schemas import (
    AwakeningIn,
    AwakeningRecordIn,
    AwakeningView,
    CallbackIn,
    DueCallback,
    FollowUps,
    ProtectiveActionsIn,
    ProtectiveActionsView,
)
from quanzu.kit.validation import RowId, body_doc, parse
from quanzu.web.edge import json_body, run_service

router = APIRouter(prefix="/api/v1", tags=["follow-ups"])
R = TypeVar("R")
BODY_MODELS = (CallbackIn, AwakeningIn, AwakeningRecordIn, ProtectiveActionsIn)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "The role may not do this"},
    404: {"description": "No such case (or not the actor's), callback or session"},
    409: {"description": "Already recorded"},
    422: {"description": "Invalid body; each error names its field"},
}


@router.get("/followups/due", response_model=list[DueCallback], responses=_ERRORS)
async def due_callbacks(
    request: Request,
    within_hours: int = Query(24, ge=0, le=24 * 31),
    mine: bool = False,
) -> list[DueCallback]:
    """Callbacks not yet recorded and due within `within_hours` (overdue first), of the cases the
    actor may see: officers their station's, the branch its stations', the centre all. `mine`:
    only the plans whose meeting the caller held."""
    within = timedelta(hours=within_hours)
    return await run_service(
        request, lambda s, rt, a: service.due(s, rt, a, within=within, mine=mine), read_only=True
    )


@router.get("/cases/{case_id}/followups", response_model=FollowUps, responses=_ERRORS)
async def case_follow_ups(request: Request, case_id: RowId) -> FollowUps:
    """The case's follow-up plan (null before its first meeting) and every callback."""
    return await run_service(request, lambda s, rt, a: service.follow_ups(s, rt, a, case_id), read_only=True)


@router.post(
    "/cases/{case_id}/followups/{callback_id}",
    response_model=FollowUps,
    responses=_ERRORS,
    openapi_extra=body_doc(CallbackIn),
)
async def record_callback(request: Request, case_id: RowId, callback_id: RowId) -> FollowUps:
    """Record a callback: reached or not, warning signs, a note. A warning sign reopens a closed
    case, raises its risk a level and re-alerts the station."""
    body = parse(CallbackIn, await json_body(request))
    return await run_service(
        request, lambda s, rt, a: service.record_callback(s, rt, a, case_id, callback_id, body)
    )


@router.get("/cases/{case_id}/awakening", response_model=list[AwakeningView], responses=_ERRORS)
async def awakening_sessions(request: Request, case_id: RowId) -> list[AwakeningView]:
    return await run_service(
        request, lambda s, rt, a: service.awakening_sessions(s, rt, a, case_id), read_only=True
    )


@router.post(
    "/cases/{case_id}/awakening",
    response_model=AwakeningView,
    status_code=201,
    responses=_ERRORS,
    openapi_extra=body_doc(AwakeningIn),
)
async def schedule_awakening(request: Request, case_id: RowId) -> AwakeningView:
    """Schedule a session in the awakening room (反诈叫醒室): station, room, time, planned attendees."""
    body = parse(AwakeningIn, await json_body(request))
    return await run_service(request, lambda s, rt, a: service.schedule_awakening(s, rt, a, case_id, body))


@router.post(
    "/cases/{case_id}/awakening/{session_id}",
    response_model=AwakeningView,
    responses=_ERRORS,
    openapi_extra=body_doc(AwakeningRecordIn),
)
async def record_awakening(request: Request, case_id: RowId, session_id: RowId) -> AwakeningView:
    """Record the session as held: who attended, materials, relatives present, outcome."""
    body = parse(AwakeningRecordIn, await json_body(request))
    return await run_service(
        request, lambda s, rt, a: service.record_awakening(s, rt, a, case_id, session_id, body)
    )


@router.get("/cases/{case_id}/protective-actions", response_model=ProtectiveActionsView, responses=_ERRORS)
async def get_protective_actions(request: Request, case_id: RowId) -> ProtectiveActionsView:
    """The six protective actions, each done or not, by whom, when, with a note."""
    return await run_service(
        request, lambda s, rt, a: service.protective_actions(s, rt, a, case_id), read_only=True
    )


@router.put(
    "/cases/{case_id}/protective-actions",
    response_model=ProtectiveActionsView,
    responses=_ERRORS,
    openapi_extra=body_doc(ProtectiveActionsIn),
)
async def put_protective_actions(request: Request, case_id: RowId) -> ProtectiveActionsView:
    """Set any of the six items: `apps_removed`, `phone_scanned`, `second_phone_found`,
    `bank_watch_requested`, `relatives_informed`, `contact_reported`."""
    body = parse(ProtectiveActionsIn, await json_body(request))
    return await run_service(
        request, lambda s, rt, a: service.set_protective_actions(s, rt, a, case_id, body)
    )
