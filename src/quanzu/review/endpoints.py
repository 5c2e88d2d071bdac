"""The review API: the centre's review queue and decisions, accountability notices, station
scorecards, training records and assessments, and exports. Each endpoint parses, calls one
service function and answers."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from quanzu.kit.validation import RowId, body_doc, parse
from quanzu.reports.schemas import KpiQuery
from quanzu.review import exports, service
from quanzu.review.schemas import (
    AcknowledgeIn,
    Assessments,
    DecisionIn,
    NoticeView,
    ReviewView,
    Scorecards,
    TrainingIn,
    TrainingView,
)
from quanzu.web.edge import json_body, run_service

router = APIRouter(prefix="/api/v1", tags=["review"])
BODY_MODELS = (DecisionIn, AcknowledgeIn, TrainingIn)
R = TypeVar("R")
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "The role may not do this (deciding a review needs the centre)"},
    404: {"description": "No such review or notice, or not the actor's to see"},
    409: {"description": "Illegal in the review's or notice's current state (named in the message)"},
    422: {"description": "Invalid input; each error names its field"},
}
_MOMENT = "ISO date (a local Asia/Shanghai day) or ISO datetime with a zone"
From = Annotated[str | None, Query(alias="from", description=_MOMENT)]
To = Annotated[str | None, Query(description=_MOMENT + "; a date includes that whole day")]
Station = Annotated[str | None, Query(description="station code, e.g. SL")]


def _period(from_: str | None, to: str | None, station: str | None = None) -> KpiQuery:
    return parse(KpiQuery, {"from": from_, "to": to, "station": station})


@router.get("/reviews", response_model=list[ReviewView], responses=_ERRORS)
async def list_reviews(
    request: Request,
    state: Annotated[str | None, Query(description="queued | confirmed | overridden")] = None,
    station: Station = None,
) -> list[ReviewView]:
    """Reviews of closed cases with their checklists (computed live while queued, frozen once
    decided). The centre sees all; a branch its stations'; a chief the station's, read-only."""
    return await run_service(
        request,
        lambda s, rt, a: service.list_reviews(s, rt, a, state=state or None, station=station or None),
        read_only=True,
    )


@router.get("/reviews/{review_id}", response_model=ReviewView, responses=_ERRORS)
async def get_review(request: Request, review_id: RowId) -> ReviewView:
    return await run_service(
        request, lambda s, rt, a: service.get_review(s, rt, a, review_id), read_only=True
    )


@router.post(
    "/reviews/{review_id}", response_model=ReviewView, responses=_ERRORS, openapi_extra=body_doc(DecisionIn)
)
async def decide_review(request: Request, review_id: RowId) -> ReviewView:
    """The centre confirms the checklist or overrides items (`{item_code: passed|failed}`) with a
    reason. Failed items become findings and an accountability notice to the station chief."""
    body = parse(DecisionIn, await json_body(request))
    return await run_service(request, lambda s, rt, a: service.decide_review(s, rt, a, review_id, body))


@router.get("/notices", response_model=list[NoticeView], responses=_ERRORS)
async def list_notices(
    request: Request, state: Annotated[str | None, Query(description="issued | acknowledged")] = None
) -> list[NoticeView]:
    """Accountability notices (问责通知) of the stations the caller may read."""
    return await run_service(
        request, lambda s, rt, a: service.list_notices(s, rt, a, state=state or None), read_only=True
    )


@router.post(
    "/notices/{notice_id}/acknowledge",
    response_model=NoticeView,
    responses=_ERRORS,
    openapi_extra=body_doc(AcknowledgeIn),
)
async def acknowledge_notice(request: Request, notice_id: RowId) -> NoticeView:
    """The station chief acknowledges a notice with a response; the reminders stop."""
    body = parse(AcknowledgeIn, await json_body(request))
    return await run_service(request, lambda s, rt, a: service.acknowledge_notice(s, rt, a, notice_id, body))


@router.get("/scorecards", response_model=Scorecards, responses=_ERRORS)
async def scorecards(
    request: Request, from_: From = None, to: To = None, station: Station = None
) -> Scorecards:
    """Per station over the period's cases (the KPI cohort): SLA compliance per clock kind,
    first-meeting success, follow-up completion, and the review's findings by item."""
    query = _period(from_, to, station)
    return await run_service(request, lambda s, rt, a: service.scorecards(s, rt, a, query), read_only=True)


@router.get("/training", response_model=list[TrainingView], responses=_ERRORS)
async def list_training(
    request: Request, user: Annotated[str | None, Query(description="username")] = None
) -> list[TrainingView]:
    """Training records (培训) of the people the caller may see: the centre everyone, a chief the
    station's people, a dissuader their own."""
    return await run_service(
        request, lambda s, rt, a: service.list_training(s, rt, a, user=user or None), read_only=True
    )


@router.post(
    "/training",
    response_model=TrainingView,
    status_code=201,
    responses=_ERRORS,
    openapi_extra=body_doc(TrainingIn),
)
async def add_training(request: Request) -> TrainingView:
    body = parse(TrainingIn, await json_body(request))
    return await run_service(request, lambda s, rt, a: service.add_training(s, rt, a, body))


@router.get("/assessments", response_model=Assessments, responses=_ERRORS)
async def assessments(
    request: Request, from_: From = None, to: To = None, station: Station = None
) -> Assessments:
    """考核 per person over the period, computed from their own cases."""
    query = _period(from_, to, station)
    return await run_service(request, lambda s, rt, a: service.assessments(s, rt, a, query), read_only=True)


@router.get(
    "/exports/{name}",
    responses={
        200: {"description": "The file", "content": {m: {} for m in exports.FORMATS.values()}},
        **_ERRORS,
    },
    response_class=Response,
)
async def export(request: Request, name: str, from_: From = None, to: To = None) -> Response:
    """`cases`, `reviews` or `followups` as `.xlsx` or `.csv` (e.g. `/api/v1/exports/cases.xlsx`),
    over what the caller may read, identifiers masked. Every export is audited."""
    query = _period(from_, to)
    out = await run_service(request, lambda s, rt, a: exports.export(s, rt, a, name, query))
    headers = {"Content-Disposition": f'attachment; filename="{out.filename}"', "Cache-Control": "no-store"}
    return Response(out.content, media_type=out.media_type, headers=headers)
