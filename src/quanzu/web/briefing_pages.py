"""The daily briefing page (`/briefings`): the stored briefings the user may read and one day's
briefing of the district or a station, with its downloads and (for those who may) regeneration.
Each view parses, calls the briefing service (the same functions as the API) and renders."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from quanzu.auth.actor import Actor
from quanzu.briefings import render as briefing_render
from quanzu.briefings import service
from quanzu.codes import Role
from quanzu.kit.runtime import Runtime
from quanzu.web.i18n import gettext_for
from quanzu.web.pages import _locale, _view, render, templates

router = APIRouter(include_in_schema=False)
GENERATORS = (Role.CENTRE, Role.ADMIN, Role.CHIEF, Role.BRANCH)
templates.env.filters.setdefault("yuan", briefing_render.yuan)


def _page(
    request: Request, session: Session, rt: Runtime, who: Actor, day: date, station: str | None, **extra: Any
) -> HTMLResponse:
    briefing, _stored = service.read(session, rt, who, station, day)
    entries = service.list_briefings(session, rt, who, None)
    stored = next((e for e in entries if e.day == day and e.scope == briefing.scope), None)
    district = briefing.scope == service.DISTRICT or (station is None and briefing.station is None)
    visible = service.visible_stations(session, who)
    return render(
        request,
        "briefing.html",
        who,
        b=briefing,
        day=day.isoformat(),
        station=briefing.station.code if briefing.station else "",
        stations=visible,
        district=district or who.role in (Role.CENTRE, Role.ADMIN, Role.AUDITOR),
        stored=stored,
        entries=entries,
        charts=briefing_render.charts(briefing, gettext_for(_locale(request, who))),
        can_generate=who.role in GENERATORS,
        **briefing_render.labels(),
        **extra,
    )


@router.get("/briefings")
async def briefings_page(request: Request) -> Response:
    q = request.query_params
    station = q.get("station") or None

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        day = service.parse_day(q["day"]) if q.get("day") else service.local_today(rt) - timedelta(days=1)
        return _page(request, session, rt, who, day, station)

    return await _view(request, work)


@router.post("/ui/briefings/{day}")
async def ui_generate(request: Request, day: str) -> Response:
    station = request.query_params.get("station") or None

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        parsed = service.parse_day(day)
        service.generate(session, rt, who, station, parsed)
        return _page(request, session, rt, who, parsed, station, flash="已生成")

    return await _view(request, work, read_only=False)
