"""The daily briefing API: list the stored briefings, download one day's as HTML, PDF, Excel or
JSON, and (re)generate one. Each endpoint parses, calls one service function and answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from quanzu.briefings import service
from quanzu.briefings.schemas import FORMATS, BriefingEntry
from quanzu.web.edge import run_service
from quanzu.web.i18n import negotiate

router = APIRouter(prefix="/api/v1/briefings", tags=["briefings"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token"},
    403: {"description": "The role may not read daily briefings"},
    404: {"description": "No such station, or not one the caller may read"},
    422: {"description": "Invalid day, format or station; each error names its field"},
}
Station = Annotated[
    str | None,
    Query(description="station code, e.g. SL; omitted: the district (centre) or the caller's station"),
]


@router.get("", response_model=list[BriefingEntry], responses=_ERRORS)
async def list_briefings(request: Request, station: Station = None) -> list[BriefingEntry]:
    """Stored daily briefings (日报) the caller may read, newest day first."""
    return await run_service(
        request, lambda s, rt, a: service.list_briefings(s, rt, a, station or None), read_only=True
    )


@router.get(
    "/{name}",
    responses={200: {"description": "The briefing", "content": {m: {} for m in FORMATS.values()}}, **_ERRORS},
    response_class=Response,
)
async def download(request: Request, name: str, station: Station = None) -> Response:
    """`2026-11-27.pdf` (or `.html`, `.xlsx`, `.json`): that local day's briefing of the
    district or a station — the stored one if it was generated, else computed now. Audited."""
    locale = negotiate(request.cookies.get("qz_lang"), request.headers.get("accept-language"))
    doc = await run_service(
        request, lambda s, rt, a: service.document(s, rt, a, name, station or None, locale)
    )
    disposition = "inline" if doc.filename.endswith((".html", ".json")) else "attachment"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{doc.filename}"',
        "Cache-Control": "no-store",
    }
    return Response(doc.content, media_type=doc.media_type, headers=headers)


@router.post("/{day}", response_model=BriefingEntry, responses=_ERRORS)
async def generate(request: Request, day: str, station: Station = None) -> BriefingEntry:
    """(Re)generates and stores the day's briefing (the centre, a branch or the station chief);
    the same day again updates the stored one."""
    parsed = service.parse_day(day)
    return await run_service(request, lambda s, rt, a: service.generate(s, rt, a, station or None, parsed))
