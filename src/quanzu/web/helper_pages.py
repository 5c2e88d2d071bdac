"""Pages of the social forces: the case page's panel (candidates, help requests, contacts), the
guards' leaderboard, and the helper's one-time link page (/h/{token}: no account, no menu)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from quanzu.auth.actor import Actor
from quanzu.codes import HELP_ANSWER_LABELS, HELP_STATUS_LABELS, HELPER_KIND_LABELS, Role
from quanzu.helpers import service
from quanzu.helpers.schemas import AnswerIn, ContactIn, HelpRequestIn, RevealIn
from quanzu.kit.errors import DomainError
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import RowId, parse
from quanzu.web.edge import unit_of_work
from quanzu.web.pages import _view, render

router = APIRouter(include_in_schema=False)
LABELS: dict[str, Any] = {
    "ANSWER": HELP_ANSWER_LABELS,
    "HELP_STATUS": HELP_STATUS_LABELS,
    "HELPER_KIND": HELPER_KIND_LABELS,
}
# The helper's page: the token in the address is the credential, so the page must not leak it
# (no referrer, no cache, no framing, nothing loaded from elsewhere).
LINK_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Robots-Tag": "noindex",
}


# --- the officer's panel on the case page ------------------------------------------------------------


def _panel(
    request: Request, session: Session, rt: Runtime, who: Actor, case_id: int, **extra: Any
) -> HTMLResponse:
    return render(
        request,
        "fragments/helpers_panel_body.html",
        who,
        case_id=case_id,
        candidates=service.candidates(session, rt, who, case_id),
        requests=service.list_requests(session, rt, who, case_id),
        contacts=service.list_contacts(session, who, case_id),
        **LABELS,
        **extra,
    )


@router.get("/ui/cases/{case_id}/helpers")
async def helpers_panel(request: Request, case_id: RowId) -> Response:
    return await _view(request, lambda s, rt, who: _panel(request, s, rt, who, case_id))


@router.get("/ui/cases/{case_id}/helpers/requests")
async def helpers_requests(request: Request, case_id: RowId) -> Response:
    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        rows = service.list_requests(session, rt, who, case_id)
        return render(request, "fragments/help_requests.html", who, case_id=case_id, requests=rows, **LABELS)

    return await _view(request, work)


@router.post("/ui/cases/{case_id}/helpers/request")
async def ui_request_help(request: Request, case_id: RowId) -> Response:
    form = await request.form()
    refs = [str(v).split(":", 1) for v in form.getlist("helper") if ":" in str(v)]
    data = {"helpers": [{"kind": k, "id": i} for k, i in refs], "note": str(form.get("note", ""))}

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        created = service.request_help(session, rt, who, case_id, parse(HelpRequestIn, data))
        return _panel(request, session, rt, who, case_id, created=created, flash="已发送")

    return await _view(request, work, read_only=False)


@router.post("/ui/cases/{case_id}/helpers/contacts")
async def ui_add_contact(request: Request, case_id: RowId) -> Response:
    data = {k: str(v) for k, v in (await request.form()).items()}

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        service.add_contact(session, rt, who, case_id, parse(ContactIn, data))
        return _panel(request, session, rt, who, case_id, flash="已添加")

    return await _view(request, work, read_only=False)


@router.post("/ui/cases/{case_id}/helpers/reveal")
async def ui_reveal_helper(request: Request, case_id: RowId) -> Response:
    data = {k: str(v) for k, v in (await request.form()).items()}

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        helper = service.reveal_helper(session, rt, who, case_id, parse(RevealIn, data))
        return render(request, "fragments/helper_revealed.html", who, helper=helper)

    return await _view(request, work, read_only=False)


# --- the guards' leaderboard --------------------------------------------------------------------------


@router.get("/guards")
async def leaderboard_page(request: Request) -> Response:
    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        rows = service.leaderboard(session, who, limit=100)
        return render(
            request, "leaderboard.html", who, rows=rows, district=who.role in (Role.CENTRE, Role.ADMIN)
        )

    return await _view(request, work)


# --- the helper's one-time link -----------------------------------------------------------------------


def _link_page(request: Request, outcome: service.LinkOutcome, **extra: Any) -> HTMLResponse:
    if outcome.refusal is not None:
        response = render(
            request,
            "helper_link.html",
            None,
            status=outcome.refusal.status,
            refusal=outcome.refusal,
            **LABELS,
        )
    else:
        response = render(request, "helper_link.html", None, brief=outcome.brief, **LABELS, **extra)
    response.headers.update(LINK_HEADERS)
    return response


@router.get("/h/{token}")
async def helper_link(request: Request, token: str) -> Response:
    def run() -> HTMLResponse:
        with unit_of_work(request) as (session, rt):  # writes: the first opening, refusals' audit
            return _link_page(request, service.open_link(session, rt, token))

    return await run_in_threadpool(run)


@router.post("/h/{token}")
async def helper_answer(request: Request, token: str) -> Response:
    # The token is the credential and only the helper's SMS carries it, so a forged cross-site
    # form cannot know it; browsers that say the post came from another site are refused anyway.
    if request.headers.get("sec-fetch-site") == "cross-site":
        return HTMLResponse("cross-site form refused", status_code=403, headers=LINK_HEADERS)
    form = await request.form()
    data = {"answer": str(form.get("answer", "")), "note": str(form.get("note", ""))}

    def run() -> HTMLResponse:
        try:
            body = parse(AnswerIn, data)
        except DomainError:
            with unit_of_work(request) as (session, rt):
                outcome = service.open_link(session, rt, token)
                return _link_page(request, outcome, problem=True)
        with unit_of_work(request) as (session, rt):
            return _link_page(request, service.answer_link(session, rt, token, body), thanks=True)

    return await run_in_threadpool(run)
