"""Reading cases: the officers' app and integrations see exactly what their scope allows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from quanzu.cases import service
from quanzu.cases.schemas import CaseDetail, CaseSummary, RevealedTarget
from quanzu.kit.validation import RowId
from quanzu.web.edge import actor, unit_of_work

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


@router.get("", response_model=list[CaseSummary])
def list_cases(
    request: Request,
    state: Annotated[list[str] | None, Query()] = None,
    station: str | None = None,
    risk: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CaseSummary]:
    """Cases the actor may see, most urgent first. Target identifiers are masked."""
    with unit_of_work(request, read_only=True) as (session, _rt):
        return service.list_cases(
            session,
            actor(session, request),
            states=state,
            station_code=station,
            risk_levels=risk,
            limit=limit,
            offset=offset,
        )


@router.get(
    "/{case_id}", response_model=CaseDetail, responses={404: {"description": "Not found or not yours"}}
)
def get_case(request: Request, case_id: RowId) -> CaseDetail:
    with unit_of_work(request, read_only=True) as (session, rt):
        return service.get_case(session, rt, actor(session, request), case_id)


@router.post("/{case_id}/reveal", response_model=RevealedTarget)
def reveal_target(request: Request, case_id: RowId) -> RevealedTarget:
    """The target's unmasked identifiers; recorded in the audit trail."""
    with unit_of_work(request) as (session, rt):
        return service.reveal_target(session, rt, actor(session, request), case_id)
