"""The workflow API for the officers' app and integrations. Each move answers the case as it is
after the move; an illegal move is a 409 naming the current state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from quanzu.auth.actor import Actor
from quanzu.cases.schemas import CaseDetail
from quanzu.cases.service import case_detail
from quanzu.dissuasion import service
from quanzu.dissuasion.schemas import AssignIn, CloseIn, EscalateIn, RouteIn, StepIn, TakeoverIn
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import RowId, body_doc, parse
from quanzu.models.cases import Case
from quanzu.web.edge import actor, json_body, unit_of_work

router = APIRouter(prefix="/api/v1/cases", tags=["workflow"])
B = TypeVar("B", bound=BaseModel)
Move = Callable[[Session, Runtime, Actor, int, Any], Case]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such case, or not the actor's"},
    409: {"description": "Illegal in the case's current state (named in the message)"},
    422: {"description": "Invalid body; each error names its field"},
}


async def _run(request: Request, case_id: RowId, model: type[B] | None, move: Move) -> CaseDetail:
    body = parse(model, await json_body(request)) if model is not None else None

    def work() -> CaseDetail:
        with unit_of_work(request) as (session, rt):
            case = move(session, rt, actor(session, request), case_id, body)
            return case_detail(session, rt, case)

    return await run_in_threadpool(work)


@router.post(
    "/{case_id}/steps", response_model=CaseDetail, responses=_RESPONSES, openapi_extra=body_doc(StepIn)
)
async def post_step(request: Request, case_id: RowId) -> CaseDetail:
    """Record a prescribed step: `sign`, `phone`, `analysis`, `onsite_search`, `verify_identity`,
    `face_to_face`. Without `outcome` the step is started (a parallel track); with it, done."""
    return await _run(request, case_id, StepIn, service.record_step)


@router.post(
    "/{case_id}/close", response_model=CaseDetail, responses=_RESPONSES, openapi_extra=body_doc(CloseIn)
)
async def close_case(request: Request, case_id: RowId) -> CaseDetail:
    """Close with an outcome, the money figure it needs, and the reverse-check list (倒查清单)."""
    return await _run(request, case_id, CloseIn, service.close)


@router.post(
    "/{case_id}/escalate", response_model=CaseDetail, responses=_RESPONSES, openapi_extra=body_doc(EscalateIn)
)
async def escalate_case(request: Request, case_id: RowId) -> CaseDetail:
    """Send a hard case up a tier at once (deeply deceived, refuses, very large amount)."""
    return await _run(request, case_id, EscalateIn, service.escalate)


@router.post("/{case_id}/acknowledge", response_model=CaseDetail, responses=_RESPONSES)
async def acknowledge_escalation(request: Request, case_id: RowId) -> CaseDetail:
    """Acknowledge the escalation at the current tier: the climb stops."""
    return await _run(request, case_id, None, lambda s, rt, a, cid, _b: service.acknowledge(s, rt, a, cid))


@router.post(
    "/{case_id}/assign", response_model=CaseDetail, responses=_RESPONSES, openapi_extra=body_doc(AssignIn)
)
async def assign_case(request: Request, case_id: RowId) -> CaseDetail:
    return await _run(request, case_id, AssignIn, service.assign)


@router.post(
    "/{case_id}/takeover", response_model=CaseDetail, responses=_RESPONSES, openapi_extra=body_doc(TakeoverIn)
)
async def takeover_case(request: Request, case_id: RowId) -> CaseDetail:
    """The branch squadron takes the case over (`takeover`) or co-handles it (`cohandle`)."""
    return await _run(request, case_id, TakeoverIn, service.takeover)


@router.post(
    "/{case_id}/route", response_model=CaseDetail, responses=_RESPONSES, openapi_extra=body_doc(RouteIn)
)
async def route_case(request: Request, case_id: RowId) -> CaseDetail:
    """The centre routes a triage case to a station, or moves a case to another station."""
    return await _run(request, case_id, RouteIn, service.route)
