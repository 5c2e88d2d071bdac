"""The review pages: the centre's review queue with each case's checklist and the decision form
(`/review`), the chiefs' accountability notices (`/notices`), station scorecards (`/scorecards`)
and training records with assessments (`/training`). Each view parses, calls the review service
(the same functions as the API) and renders."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.codes import Role
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import RowId, parse
from quanzu.reports.schemas import KpiQuery
from quanzu.review import service
from quanzu.review.rules import NOTICE_STATE_LABELS, REVIEW_STATE_LABELS, STATUS_LABELS, all_item_labels
from quanzu.review.schemas import RESULT_LABELS, AcknowledgeIn, DecisionIn, TrainingIn
from quanzu.web.pages import _view, render

router = APIRouter(include_in_schema=False)
LABELS: dict[str, Any] = {
    "REVIEW_STATE": REVIEW_STATE_LABELS,
    "NOTICE_STATE": NOTICE_STATE_LABELS,
    "ITEM_STATUS": STATUS_LABELS,
    "ITEM": all_item_labels(),
    "TRAINING_RESULT": RESULT_LABELS,
}


def _query(request: Request) -> KpiQuery:
    q = request.query_params
    return parse(
        KpiQuery,
        {"from": q.get("from") or None, "to": q.get("to") or None, "station": q.get("station") or None},
    )


# --- the review queue ---------------------------------------------------------------------------------


def _reviews(
    request: Request, session: Session, rt: Runtime, who: Actor, template: str, **extra: Any
) -> HTMLResponse:
    state = request.query_params.get("state", "queued") or None
    rows = service.list_reviews(session, rt, who, state=state if state != "all" else None, limit=50)
    return render(
        request,
        template,
        who,
        reviews=rows,
        state=state,
        can_decide=who.role is Role.CENTRE,
        **LABELS,
        **extra,
    )


@router.get("/review")
async def review_page(request: Request) -> Response:
    return await _view(request, lambda s, rt, who: _reviews(request, s, rt, who, "review.html"))


@router.post("/ui/reviews/{review_id}")
async def ui_decide(request: Request, review_id: RowId) -> Response:
    form = await request.form()
    overrides = {
        str(k).removeprefix("ov_"): str(v) for k, v in form.items() if str(k).startswith("ov_") and str(v)
    }
    data = {
        "decision": "override" if overrides else "confirm",
        "overrides": overrides,
        "reason": str(form.get("reason", "")),
    }

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        decided = service.decide_review(session, rt, who, review_id, parse(DecisionIn, data))
        return render(
            request, "fragments/review_item.html", who, r=decided, can_decide=False, flash="已保存", **LABELS
        )

    return await _view(request, work, read_only=False)


# --- notices --------------------------------------------------------------------------------------------


def _notices(request: Request, session: Session, rt: Runtime, who: Actor, **extra: Any) -> HTMLResponse:
    rows = service.list_notices(session, rt, who)
    return render(
        request, "notices.html", who, notices=rows, can_ack=who.role is Role.CHIEF, **LABELS, **extra
    )


@router.get("/notices")
async def notices_page(request: Request) -> Response:
    return await _view(request, lambda s, rt, who: _notices(request, s, rt, who))


@router.post("/ui/notices/{notice_id}/acknowledge")
async def ui_acknowledge(request: Request, notice_id: RowId) -> Response:
    form = await request.form()
    data = {"response": str(form.get("response", ""))}

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        service.acknowledge_notice(session, rt, who, notice_id, parse(AcknowledgeIn, data))
        return _notices(request, session, rt, who, flash="已保存")

    return await _view(request, work, read_only=False)


# --- scorecards -----------------------------------------------------------------------------------------


@router.get("/scorecards")
async def scorecards_page(request: Request) -> Response:
    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        query = _query(request)
        cards = service.scorecards(session, rt, who, query)
        return render(request, "scorecards.html", who, cards=cards, query=query, **LABELS)

    return await _view(request, work)


# --- training and assessments ------------------------------------------------------------------------------


def _training(request: Request, session: Session, rt: Runtime, who: Actor, **extra: Any) -> HTMLResponse:
    query = _query(request)
    records = service.list_training(session, rt, who)
    people = service.assessments(session, rt, who, query)
    return render(
        request,
        "training.html",
        who,
        records=records,
        people=people,
        query=query,
        can_record=who.role in (Role.CENTRE, Role.ADMIN, Role.CHIEF),
        **LABELS,
        **extra,
    )


@router.get("/training")
async def training_page(request: Request) -> Response:
    return await _view(request, lambda s, rt, who: _training(request, s, rt, who))


@router.post("/ui/training")
async def ui_add_training(request: Request) -> Response:
    form = await request.form()
    data: dict[str, Any] = {k: str(v) for k, v in form.items() if str(v) != ""}

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        service.add_training(session, rt, who, parse(TrainingIn, data))
        return _training(request, session, rt, who, flash="已保存")

    return await _view(request, work, read_only=False)
