"""The KPI endpoint: parse the query, call the one KPI service, answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from quanzu.kit.validation import parse
from quanzu.reports import service
from quanzu.reports.schemas import DEFINITIONS, KpiQuery, KpiReport
from quanzu.web.edge import actor, unit_of_work

router = APIRouter(prefix="/api/v1/kpis", tags=["reports"])
_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "The role may not read cases (feed, bank)"},
    422: {"description": "Invalid query; each error names its field (from, to, station, scam_type)"},
}
_MOMENT = "ISO date (a local Asia/Shanghai day) or ISO datetime with a zone"


@router.get("", response_model=KpiReport, responses=_RESPONSES, description=DEFINITIONS)
def get_kpis(
    request: Request,
    from_: Annotated[str | None, Query(alias="from", description=_MOMENT)] = None,
    to: Annotated[str | None, Query(description=_MOMENT + "; a date includes that whole day")] = None,
    station: Annotated[str | None, Query(description="station code, e.g. SL")] = None,
    scam_type: Annotated[str | None, Query(description="scam type code, e.g. order_brushing")] = None,
) -> KpiReport:
    """Live KPIs over the cases the caller may read."""
    query = parse(KpiQuery, {"from": from_, "to": to, "station": station, "scam_type": scam_type})
    with unit_of_work(request, read_only=True) as (session, rt):
        return service.kpis(session, rt, actor(session, request), query)
