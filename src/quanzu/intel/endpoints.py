"""The intelligence API: a case's suggestion, risk, script and linked cases; the officer's
decision on the type; a suggestion for free text; the fraudster identifiers ranked and exported."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from quanzu.intel import exports, service
from quanzu.intel.schemas import CaseIntelOut, RankingRow, ScamTypeDecisionIn, SuggestIn, SuggestOut
from quanzu.kit.validation import RowId, body_doc, parse
from quanzu.web.edge import json_body, run_service

router = APIRouter(prefix="/api/v1", tags=["intel"])
BODY_MODELS = (ScamTypeDecisionIn, SuggestIn)
_ERRORS: dict[int | str, dict[str, str]] = {404: {"description": "Not found or not yours"}}


@router.get("/cases/{case_id}/intel", response_model=CaseIntelOut, responses=_ERRORS)
async def case_intel(request: Request, case_id: RowId) -> CaseIntelOut:
    """The scam-type suggestion with the words that drove it, the risk score with each factor's
    points, the dissuasion script, and other cases sharing a fraudster contact (case id, station,
    status and type only)."""
    return await run_service(request, lambda s, rt, a: service.case_intel(s, rt, a, case_id), read_only=True)


@router.post(
    "/cases/{case_id}/scam-type",
    response_model=CaseIntelOut,
    responses=_ERRORS,
    openapi_extra=body_doc(ScamTypeDecisionIn),
)
async def decide_scam_type(request: Request, case_id: RowId) -> CaseIntelOut:
    """Confirm the suggested type, or correct it: sets the case's type; feeds the next training."""
    body = parse(ScamTypeDecisionIn, await json_body(request))
    return await run_service(request, lambda s, rt, a: service.decide_scam_type(s, rt, a, case_id, body))


@router.post("/intel/suggest", response_model=SuggestOut, openapi_extra=body_doc(SuggestIn))
async def suggest_text(request: Request) -> SuggestOut:
    """A scam-type suggestion for a description not yet stored."""
    body = parse(SuggestIn, await json_body(request))
    return await run_service(
        request, lambda _s, rt, a: service.suggest_text(rt, a, body.text), read_only=True
    )


@router.get("/intel/contacts", response_model=list[RankingRow])
async def contacts(
    request: Request, kind: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[RankingRow]:
    """Fraudster identifiers by victims and money, with first and last seen; values masked."""
    return await run_service(
        request, lambda s, _rt, a: service.ranking(s, a, kind=kind, limit=limit), read_only=True
    )


@router.get("/intel/contacts.{fmt}", response_class=Response)
async def export_contacts(request: Request, fmt: str, kind: str | None = None) -> Response:
    """`xlsx` or `csv`; the centre's file has the values in full. Audited."""
    out = await run_service(request, lambda s, rt, a: exports.export(s, rt, a, fmt, kind))
    headers = {"Content-Disposition": f'attachment; filename="{out.filename}"', "Cache-Control": "no-store"}
    return Response(out.content, media_type=out.media_type, headers=headers)
