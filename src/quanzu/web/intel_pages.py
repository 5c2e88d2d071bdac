"""Intelligence on the pages: the case page's panel (suggested type with its driving words and
confirm/correct, the risk factor table, the dissuasion script, linked cases) and `/intel`, the
fraudster identifiers ranked by victims and money. Thin: parse, call one service, render."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.intel import service
from quanzu.intel.exports import KIND_LABELS
from quanzu.intel.schemas import ScamTypeDecisionIn
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import RowId, parse
from quanzu.web.pages import _view, render

router = APIRouter(include_in_schema=False)
SOURCE_LABELS = {"warning": "预警", "reverse_check": "倒查清单"}


def _panel(
    request: Request, session: Session, rt: Runtime, who: Actor, case_id: int, **extra: Any
) -> HTMLResponse:
    return render(
        request,
        "fragments/intel_panel_body.html",
        who,
        case_id=case_id,
        intel=service.case_intel(session, rt, who, case_id),
        KIND=KIND_LABELS,
        SOURCE=SOURCE_LABELS,
        **extra,
    )


@router.get("/ui/cases/{case_id}/intel")
async def intel_panel(request: Request, case_id: RowId) -> Response:
    return await _view(request, lambda s, rt, who: _panel(request, s, rt, who, case_id))


@router.post("/ui/cases/{case_id}/intel/scam-type")
async def ui_decide(request: Request, case_id: RowId) -> Response:
    form = await request.form()

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        body = parse(ScamTypeDecisionIn, {"scam_type": str(form.get("scam_type", ""))})
        service.decide_scam_type(session, rt, who, case_id, body)
        return _panel(request, session, rt, who, case_id, flash="已保存")

    return await _view(request, work, read_only=False)


@router.get("/intel")
async def intel_page(request: Request, kind: str | None = None) -> Response:
    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        rows = service.ranking(session, who, kind=kind or None, limit=200)
        return render(request, "intel.html", who, rows=rows, kind=kind or "", KIND=KIND_LABELS)

    return await _view(request, work)
