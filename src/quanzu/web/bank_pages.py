"""The police–bank panel on the case page: the watch entry (create, extend, end), the banks'
reports of attempts, and emergency stop-payment requests (file, follow, withdraw)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.banks import repository, service
from quanzu.banks.rules import STOP_STATE_LABELS
from quanzu.banks.schemas import StopPaymentIn, WatchEndIn, WatchIn
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import RowId, parse
from quanzu.web.pages import _view, render

router = APIRouter(include_in_schema=False)
LABELS: dict[str, Any] = {
    "STOP_STATE": STOP_STATE_LABELS,
    "ATTEMPT": service.EVENT_KIND_LABELS,
    "ACTION_TAKEN": service.ACTION_LABELS,
    "END_REASON": {"case_closed": "结案解除", "expired": "到期解除", "ended_by_officer": "民警解除"},
}


def _panel(
    request: Request, session: Session, rt: Runtime, who: Actor, case_id: int, **extra: Any
) -> HTMLResponse:
    return render(
        request,
        "fragments/banks_panel_body.html",
        who,
        case_id=case_id,
        linkage=service.linkage(session, rt, who, case_id),
        banks=repository.banks(session),
        **LABELS,
        **extra,
    )


@router.get("/ui/cases/{case_id}/banks")
async def banks_panel(request: Request, case_id: RowId) -> Response:
    return await _view(request, lambda s, rt, who: _panel(request, s, rt, who, case_id))


async def _move(request: Request, case_id: RowId, move: Any) -> Response:
    form = await request.form()

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        move(session, rt, who, form)
        return _panel(request, session, rt, who, case_id, flash="已保存")

    return await _view(request, work, read_only=False)


@router.post("/ui/cases/{case_id}/banks/watch")
async def ui_watch(request: Request, case_id: RowId) -> Response:
    def move(session: Session, rt: Runtime, who: Actor, form: Any) -> None:
        data = {
            "reason": str(form.get("reason", "")),
            "accounts": [a for a in str(form.get("accounts", "")).split() if a],
            "keep_after_close": form.get("keep_after_close") == "on",
            **({"days": form.get("days")} if form.get("days") else {}),
        }
        service.watch_case(session, rt, who, case_id, parse(WatchIn, data))

    return await _move(request, case_id, move)


@router.post("/ui/cases/{case_id}/banks/watch/end")
async def ui_end_watch(request: Request, case_id: RowId) -> Response:
    def move(session: Session, rt: Runtime, who: Actor, form: Any) -> None:
        service.end_watch(
            session, rt, who, case_id, parse(WatchEndIn, {"reason": str(form.get("reason", ""))})
        )

    return await _move(request, case_id, move)


@router.post("/ui/cases/{case_id}/banks/stop")
async def ui_stop(request: Request, case_id: RowId) -> Response:
    def move(session: Session, rt: Runtime, who: Actor, form: Any) -> None:
        rows = zip(form.getlist("sp_account"), form.getlist("sp_amount"), strict=False)
        data = {
            "bank": str(form.get("bank", "")),
            "reason": str(form.get("reason", "")),
            "accounts": [{"account": a, "amount": m} for a, m in rows if str(a).strip()],
        }
        service.file_stop_payment(session, rt, who, case_id, parse(StopPaymentIn, data))

    return await _move(request, case_id, move)


@router.post("/ui/cases/{case_id}/banks/stop/{stop_id}/cancel")
async def ui_cancel_stop(request: Request, case_id: RowId, stop_id: RowId) -> Response:
    def move(session: Session, rt: Runtime, who: Actor, _form: Any) -> None:
        service.cancel_stop_payment(session, rt, who, case_id, stop_id)

    return await _move(request, case_id, move)
