"""After the meeting, on the case page: the follow-up plan with a form per callback, the
awakening-room sessions, and the protective-action checklist; and `/followups`, the callbacks
due for the officer's station. Thin: parse the form, call one service, render."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.codes import (
    AWAKENING_OUTCOME_LABELS,
    AWAKENING_STATE_LABELS,
    CALLBACK_STATUS_LABELS,
    PROTECTIVE_ACTION_LABELS,
    WARNING_SIGN_LABELS,
)
from quanzu.followups import service
from quanzu.followups.schemas import AwakeningIn, AwakeningRecordIn, CallbackIn, ProtectiveActionsIn
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import RowId, parse
from quanzu.web.pages import _view, render

router = APIRouter(include_in_schema=False)
LABELS: dict[str, Any] = {
    "CALLBACK_STATUS": CALLBACK_STATUS_LABELS,
    "WARNING_SIGN": WARNING_SIGN_LABELS,
    "AWAKENING_STATE": AWAKENING_STATE_LABELS,
    "AWAKENING_OUTCOME": AWAKENING_OUTCOME_LABELS,
    "PROTECTIVE": PROTECTIVE_ACTION_LABELS,
    "TRIGGER": {"face_to_face": "会面宣防后", "phone": "电话劝阻成功后"},
}
CALLBACK_COLOURS = {
    "planned": "grey",
    "due": "blue",
    "overdue": "red",
    "reached": "green",
    "not_reached": "orange",
}


def _lines(value: object) -> list[str]:
    """A textarea or comma list → items (，、, and new lines separate)."""
    text = str(value or "")
    for sep in ("，", "、", ","):
        text = text.replace(sep, "\n")
    return [t.strip() for t in text.splitlines() if t.strip()]


def _panel(
    request: Request, session: Session, rt: Runtime, who: Actor, case_id: int, **extra: Any
) -> HTMLResponse:
    return render(
        request,
        "fragments/followups_panel_body.html",
        who,
        case_id=case_id,
        followups=service.follow_ups(session, rt, who, case_id),
        sessions=service.awakening_sessions(session, rt, who, case_id),
        protective=service.protective_actions(session, rt, who, case_id),
        CALLBACK_COLOURS=CALLBACK_COLOURS,
        **LABELS,
        **extra,
    )


@router.get("/ui/cases/{case_id}/followups")
async def followups_panel(request: Request, case_id: RowId) -> Response:
    return await _view(request, lambda s, rt, who: _panel(request, s, rt, who, case_id))


async def _move(
    request: Request, case_id: RowId, move: Callable[[Session, Runtime, Actor, Any], None]
) -> Response:
    form = await request.form()

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        move(session, rt, who, form)
        return _panel(request, session, rt, who, case_id, flash="已保存")

    return await _view(request, work, read_only=False)


@router.post("/ui/cases/{case_id}/followups/callbacks/{callback_id}")
async def ui_callback(request: Request, case_id: RowId, callback_id: RowId) -> Response:
    def move(session: Session, rt: Runtime, who: Actor, form: Any) -> None:
        data = {
            "reached": form.get("reached") == "yes",
            "warning_signs": [str(s) for s in form.getlist("warning_signs")],
            "note": str(form.get("note", "")),
        }
        service.record_callback(session, rt, who, case_id, callback_id, parse(CallbackIn, data))

    return await _move(request, case_id, move)


@router.post("/ui/cases/{case_id}/followups/awakening/new")
async def ui_schedule_awakening(request: Request, case_id: RowId) -> Response:
    def move(session: Session, rt: Runtime, who: Actor, form: Any) -> None:
        at = str(form.get("at", ""))
        data = {
            "room": str(form.get("room", "")),
            "at": f"{at}:00+08:00" if len(at) == 16 else at,  # <input type=datetime-local>, Beijing time
            "planned_attendees": _lines(form.get("planned_attendees")),
            "note": str(form.get("note", "")),
            **({"station": str(form.get("station"))} if form.get("station") else {}),
        }
        service.schedule_awakening(session, rt, who, case_id, parse(AwakeningIn, data))

    return await _move(request, case_id, move)


@router.post("/ui/cases/{case_id}/followups/awakening/{session_id}")
async def ui_record_awakening(request: Request, case_id: RowId, session_id: RowId) -> Response:
    def move(session: Session, rt: Runtime, who: Actor, form: Any) -> None:
        data = {
            "attended": _lines(form.get("attended")),
            "materials": _lines(form.get("materials")),
            "relatives_present": _lines(form.get("relatives_present")),
            "outcome": str(form.get("outcome", "")),
            "note": str(form.get("note", "")),
        }
        service.record_awakening(session, rt, who, case_id, session_id, parse(AwakeningRecordIn, data))

    return await _move(request, case_id, move)


@router.post("/ui/cases/{case_id}/followups/protective/save")
async def ui_protective(request: Request, case_id: RowId) -> Response:
    def move(session: Session, rt: Runtime, who: Actor, form: Any) -> None:
        done = set(form.getlist("done"))
        items = [
            {"code": code, "done": code in done, "note": str(form.get(f"note_{code}", ""))}
            for code in PROTECTIVE_ACTION_LABELS
        ]
        service.set_protective_actions(
            session, rt, who, case_id, parse(ProtectiveActionsIn, {"items": items})
        )

    return await _move(request, case_id, move)


@router.get("/followups")
async def due_page(request: Request) -> Response:
    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        rows = service.due(session, rt, who, within=timedelta(days=1))
        return render(request, "followups.html", who, rows=rows, CALLBACK_COLOURS=CALLBACK_COLOURS, **LABELS)

    return await _view(request, work)
