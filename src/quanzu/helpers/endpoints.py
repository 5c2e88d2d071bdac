"""The social-forces API: the people around a target, ranked helpers, help requests, the guards'
leaderboard. Personal token or session; another station's case is a 404."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from quanzu.auth.actor import Actor
from quanzu.helpers import service
from quanzu.helpers.schemas import (
    CandidateOut,
    ContactIn,
    ContactOut,
    HelpRequestCreated,
    HelpRequestIn,
    HelpRequestOut,
    LeaderboardRow,
    RevealedHelper,
    RevealIn,
)
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import RowId, body_doc, parse
from quanzu.web.edge import actor, json_body, unit_of_work

router = APIRouter(prefix="/api/v1", tags=["social forces"])
B = TypeVar("B", bound=BaseModel)
R = TypeVar("R")
_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such case, or not the actor's"},
    409: {"description": "Illegal now (closed case, helper already asked)"},
    422: {"description": "Invalid body; each error names its field"},
}


async def _write(request: Request, model: type[B], work: Callable[[Session, Runtime, Actor, B], R]) -> R:
    body = parse(model, await json_body(request))

    def run() -> R:
        with unit_of_work(request) as (session, rt):
            return work(session, rt, actor(session, request), body)

    return await run_in_threadpool(run)


@router.get("/cases/{case_id}/contacts", response_model=list[ContactOut], responses=_RESPONSES)
def list_contacts(request: Request, case_id: RowId) -> list[ContactOut]:
    """The target's relatives, work-unit leaders and village/community workers (masked)."""
    with unit_of_work(request, read_only=True) as (session, _rt):
        return service.list_contacts(session, actor(session, request), case_id)


@router.post(
    "/cases/{case_id}/contacts",
    response_model=ContactOut,
    status_code=201,
    responses=_RESPONSES,
    openapi_extra=body_doc(ContactIn),
)
async def add_contact(request: Request, case_id: RowId) -> ContactOut:
    """Add someone close to the target (`relation`: relative, work_leader, community_worker);
    the same phone again updates that contact."""
    return await _write(request, ContactIn, lambda s, rt, a, b: service.add_contact(s, rt, a, case_id, b))


@router.get("/cases/{case_id}/helpers", response_model=list[CandidateOut], responses=_RESPONSES)
def helper_candidates(request: Request, case_id: RowId) -> list[CandidateOut]:
    """Who can reach the target first, best first, each with the reason: guards at the target's
    employer (tolerant name matching) or community, relatives, work-unit leaders."""
    with unit_of_work(request, read_only=True) as (session, rt):
        return service.candidates(session, rt, actor(session, request), case_id)


@router.post(
    "/cases/{case_id}/helpers/reveal",
    response_model=RevealedHelper,
    responses=_RESPONSES,
    openapi_extra=body_doc(RevealIn),
)
async def reveal_helper(request: Request, case_id: RowId) -> RevealedHelper:
    """A suggested (or asked) helper's full name and phone; recorded in the audit trail."""
    return await _write(request, RevealIn, lambda s, rt, a, b: service.reveal_helper(s, rt, a, case_id, b))


@router.post(
    "/cases/{case_id}/help-requests",
    response_model=list[HelpRequestCreated],
    status_code=201,
    responses=_RESPONSES,
    openapi_extra=body_doc(HelpRequestIn),
)
async def request_help(request: Request, case_id: RowId) -> list[HelpRequestCreated]:
    """Ask the chosen helpers (`{"helpers": [{"kind": "guard", "id": 12}]}`): each gets a
    one-time link by SMS. The links are in this answer once and never again."""
    return await _write(
        request, HelpRequestIn, lambda s, rt, a, b: service.request_help(s, rt, a, case_id, b)
    )


@router.get("/cases/{case_id}/help-requests", response_model=list[HelpRequestOut], responses=_RESPONSES)
def list_help_requests(request: Request, case_id: RowId) -> list[HelpRequestOut]:
    """The case's help requests: sent / opened / answered / expired, the answer, who was first
    to reach the target, the SMS delivery."""
    with unit_of_work(request, read_only=True) as (session, rt):
        return service.list_requests(session, rt, actor(session, request), case_id)


@router.get("/guards/leaderboard", response_model=list[LeaderboardRow])
def guards_leaderboard(
    request: Request,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[LeaderboardRow]:
    """Guards' contributions on the cases the actor may read: first reaches, reaches, answers."""
    with unit_of_work(request, read_only=True) as (session, _rt):
        return service.leaderboard(session, actor(session, request), since=since, until=until, limit=limit)


BODY_MODELS = (ContactIn, HelpRequestIn, RevealIn)  # documented in /openapi.json (app._document_raw_bodies)
