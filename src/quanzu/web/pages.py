"""The web pages (server-rendered with Jinja2, small HTMX interactions). Each view parses the
request, calls one service and renders; the same services serve the JSON API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from quanzu.auth import service as auth
from quanzu.auth.actor import Actor
from quanzu.cases import service as cases
from quanzu.cases.schemas import BoardFilters
from quanzu.codes import (
    RISK_COLOURS,
    RISK_LABELS,
    ROLE_LABELS,
    SCAM_TYPE_LABELS,
    SLA_LABELS,
    STATE_LABELS,
    Role,
)
from quanzu.dissuasion import service as dissuasion
from quanzu.dissuasion.rules import STEP_OUTCOMES
from quanzu.dissuasion.schemas import AssignIn, CloseIn, EscalateIn, RouteIn, StepIn
from quanzu.kit.errors import DomainError, NotAuthenticated
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import RowId, parse
from quanzu.org import service as org
from quanzu.org.schemas import ShiftAdd
from quanzu.reports import service as reports
from quanzu.reports.schemas import KpiQuery
from quanzu.web.edge import SESSION_COOKIE, actor, bearer_token, state, unit_of_work
from quanzu.web.i18n import LOCALE_NAMES, LOCALES, gettext_for, negotiate

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
HOME_BY_ROLE = {
    Role.CENTRE: "/board",
    Role.ADMIN: "/board",
    Role.AUDITOR: "/board",
    Role.BRANCH: "/board",
    Role.CHIEF: "/m",
    Role.DUTY_LEADER: "/m",
    Role.DISSUADER: "/m",
}
STEP_LABELS = {
    "sign": "签收",
    "phone": "电话劝阻",
    "analysis": "研判",
    "onsite_search": "上门寻找",
    "verify_identity": "核实身份",
    "face_to_face": "会面宣防",
    "feedback": "平台反馈",
}
OUTCOME_LABELS = {
    "answered": "已接通",
    "dissuaded": "劝阻成功",
    "not_convinced": "未被说服",
    "no_answer": "无人接听",
    "refused": "拒绝沟通",
    "wrong_number": "号码错误",
    "powered_off": "关机",
    "located": "已定位",
    "not_located": "未定位",
    "done": "已完成",
    "found": "已找到",
    "not_found": "未找到",
    "verified": "身份一致",
    "mismatch": "身份不符",
    "submitted": "已提交",
    "lost": "已被骗",
    "not_fraud": "非诈骗",
    "unreachable": "无法联系",
}
EVENT_LABELS = {
    "opened": "预警接收",
    "dispatched": "推送值班人员",
    "signal_merged": "重复预警并案",
    "step": "处置步骤",
    "closed": "结案",
    "escalated": "升级",
    "escalation_requested": "申请升级",
    "escalation_acknowledged": "确认升级",
    "sla_breached": "超时",
    "assigned": "指派",
    "routed": "人工分流",
    "handover": "交接班",
    "takeover": "中队接管",
    "cohandle": "中队协同",
    "nobody_on_duty": "无人值班",
    "escalation_impossible": "无法升级",
    "watch_created": "银行布控",
    "watch_extended": "延长布控",
    "watch_ended": "解除布控",
    "bank_event": "银行报告",
    "stop_payment_filed": "发起紧急止付",
    "stop_payment_acknowledged": "银行确认止付",
    "stop_payment_result": "止付结果",
    "stop_payment_cancelled": "撤回止付",
    "stop_payment_overdue": "止付确认超时",
    "help_requested": "请求社会力量协助",
    "help_opened": "协助人打开链接",
    "help_answered": "协助人反馈",
    "helper_contact_added": "添加联系人",
    "helper_contact_updated": "更新联系人",
    "review_queued": "进入复查",
    "review_decided": "复查完成",
    "notice_issued": "发出问责通知",
    "notice_acknowledged": "所长签收问责通知",
    "notice_overdue": "问责通知未签收提醒",
    "followup_planned": "生成回访计划",
    "followup_recorded": "回访",
    "followup_completed": "回访完成",
    "followup_overdue": "回访逾期",
    "followup_warning": "回访发现预警迹象",
    "followup_warning_elsewhere": "回访预警转入进行中的案件",
    "reopened": "重新打开",
    "awakening_scheduled": "安排反诈叫醒室",
    "awakening_held": "反诈叫醒室",
    "protective_actions": "防护措施",
    "scam_type_suggested": "系统建议诈骗类型",
    "scam_type_decided": "确认诈骗类型",
    "risk_raised_by_score": "按风险评分升级",
    "risk_scored": "按风险评分定级",
    "intel_linked": "关联案件",
}


class LoginRequired(Exception):
    pass


def _locale(request: Request, who: Actor | None) -> str:
    return negotiate(
        who.locale if who else request.cookies.get("qz_lang"), request.headers.get("accept-language")
    )


def render(request: Request, name: str, who: Actor | None, status: int = 200, **ctx: Any) -> HTMLResponse:
    locale = _locale(request, who)
    token = bearer_token(request)
    context = {
        "request": request,
        "_": gettext_for(locale),
        "locale": locale,
        "locales": LOCALE_NAMES,
        "me": who,
        "csrf": state(request).rt.cipher.csrf_token(token) if token and who else "",
        "now": state(request).rt.clock.now(),
        "RISK": RISK_LABELS,
        "RISK_COLOURS": RISK_COLOURS,
        "SCAM": SCAM_TYPE_LABELS,
        "STATE": STATE_LABELS,
        "ROLE": ROLE_LABELS,
        "STEP": STEP_LABELS,
        "OUTCOME": OUTCOME_LABELS,
        "SLA": SLA_LABELS,
        "EVENT": EVENT_LABELS,
        "STEP_OUTCOMES": {k: sorted(v) for k, v in STEP_OUTCOMES.items()},
        **ctx,
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


def _page_actor(session: Session, request: Request) -> Actor:
    try:
        who = actor(session, request)
    except NotAuthenticated:
        raise LoginRequired from None
    if who.kind != "user":
        raise LoginRequired
    return who


async def _view(
    request: Request, work: Callable[[Session, Runtime, Actor], HTMLResponse], *, read_only: bool = True
) -> Response:
    """Runs a page's work in one transaction; domain errors render in plain language."""

    def run() -> Response:
        try:
            with unit_of_work(request, read_only=read_only) as (session, rt):
                who = _page_actor(session, request)
                try:
                    return work(session, rt, who)
                except DomainError as exc:
                    session.rollback()
                    errors = [f"{e.field}: {e.message}" for e in getattr(exc, "errors", [])] or [exc.message]
                    page = "fragments/error.html" if request.headers.get("hx-request") else "error_page.html"
                    return render(request, page, who, status=exc.status_code, errors=errors)
        except LoginRequired:
            if request.headers.get("hx-request"):
                return Response(status_code=401, headers={"HX-Redirect": "/login"})
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    return await run_in_threadpool(run)


# --- sign in -------------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", None, next=next if _is_local_path(next) else "/")


def _is_local_path(target: str) -> bool:
    """A path on this site: `//host` and `/\\host` are other sites to a browser (open redirect)."""
    return target.startswith("/") and not target.startswith("//") and "\\" not in target


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = str(form.get("next", "/"))
    st = state(request)

    def run() -> Response:
        session = st.factory()
        try:
            who, token = auth.login(session, st.rt, username, password)
            session.commit()
        except DomainError as exc:
            session.commit()  # failures count towards the lockout
            return render(
                request,
                "login.html",
                None,
                status=exc.status_code,
                error=exc.message,
                next=target,
                username=username,
            )
        finally:
            session.close()
        response = RedirectResponse(
            target if _is_local_path(target) and target != "/" else HOME_BY_ROLE.get(who.role, "/m"),
            status_code=303,
        )
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=st.settings.base_url.startswith("https://"),
            max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        )
        return response

    return await run_in_threadpool(run)


@router.post("/logout")
async def logout(request: Request) -> Response:
    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        token = bearer_token(request)
        if token:
            auth.logout(session, rt, token)
        response = HTMLResponse("", headers={"HX-Redirect": "/login"})
        response.delete_cookie(SESSION_COOKIE)
        return response

    return await _view(request, work, read_only=False)


@router.post("/ui/locale")
async def set_locale(request: Request) -> Response:
    locale = str((await request.form()).get("locale", ""))
    if locale not in LOCALES:
        locale = "zh-Hans"

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        auth.set_locale(session, rt, who, locale)
        response = HTMLResponse("", headers={"HX-Refresh": "true"})
        response.set_cookie("qz_lang", locale, samesite="strict", max_age=365 * 86400)
        return response

    return await _view(request, work, read_only=False)


@router.get("/")
async def home(request: Request) -> Response:
    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        return HTMLResponse("", status_code=303, headers={"Location": HOME_BY_ROLE.get(who.role, "/m")})

    return await _view(request, work)


# --- the officer's phone: my tasks -------------------------------------------------------------------


def _tasks(request: Request, session: Session, rt: Runtime, who: Actor, template: str) -> HTMLResponse:
    everyone = request.query_params.get("all") == "1" or who.role in (Role.CHIEF, Role.DUTY_LEADER)
    rows = cases.board(session, rt, who, BoardFilters(), mine=not everyone, limit=100)
    return render(request, template, who, rows=rows, everyone=everyone)


@router.get("/m")
async def tasks_page(request: Request) -> Response:
    return await _view(request, lambda s, rt, who: _tasks(request, s, rt, who, "tasks.html"))


@router.get("/m/list")
async def tasks_list(request: Request) -> Response:
    return await _view(request, lambda s, rt, who: _tasks(request, s, rt, who, "fragments/task_list.html"))


# --- the case page -----------------------------------------------------------------------------------


def _case_page(
    request: Request, session: Session, rt: Runtime, who: Actor, case_id: int, template: str, **extra: Any
) -> HTMLResponse:
    detail = cases.get_case(session, rt, who, case_id)
    stations = [u for u in rt.org.get(session).units.values() if u.kind == "station"]
    return render(
        request, template, who, case=detail, stations=sorted(stations, key=lambda u: u.code), **extra
    )


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: RowId) -> Response:
    return await _view(request, lambda s, rt, who: _case_page(request, s, rt, who, case_id, "case.html"))


def _form_list(form: Any, prefix: str) -> list[dict[str, str]]:
    """Reverse-check rows arrive as rc_kind / rc_value lists; empty rows are skipped."""
    kinds, values = form.getlist(f"{prefix}_kind"), form.getlist(f"{prefix}_value")
    return [{"kind": k, "value": v} for k, v in zip(kinds, values, strict=False) if str(v).strip()]


async def _case_move(
    request: Request, case_id: RowId, move: Callable[[Session, Runtime, Actor, dict[str, Any]], object]
) -> Response:
    form = await request.form()
    data: dict[str, Any] = {k: v for k, v in form.items() if not k.startswith("rc_")}
    if "rc_kind" in form:
        data["reverse_check"] = _form_list(form, "rc")

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        move(session, rt, who, {k: v for k, v in data.items() if v != ""})
        return _case_page(request, session, rt, who, case_id, "fragments/case_panel.html", flash="已保存")

    return await _view(request, work, read_only=False)


@router.post("/ui/cases/{case_id}/reveal")
async def ui_reveal(request: Request, case_id: RowId) -> Response:
    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        target = cases.reveal_target(session, rt, who, case_id)
        return render(request, "fragments/revealed.html", who, target=target)

    return await _view(request, work, read_only=False)


# One form post per move: (body model, service function). The JSON API has the same moves.
_MOVES: dict[str, tuple[type[BaseModel] | None, Callable[..., object]]] = {
    "steps": (StepIn, dissuasion.record_step),
    "close": (CloseIn, dissuasion.close),
    "escalate": (EscalateIn, dissuasion.escalate),
    "assign": (AssignIn, dissuasion.assign),
    "route": (RouteIn, dissuasion.route),
    "acknowledge": (None, dissuasion.acknowledge),
}


@router.post("/ui/cases/{case_id}/{action}")
async def ui_move(request: Request, case_id: RowId, action: str) -> Response:
    if action not in _MOVES:
        return Response(status_code=404)
    model, service = _MOVES[action]

    def move(session: Session, rt: Runtime, who: Actor, data: dict[str, Any]) -> object:
        if model is None:
            return service(session, rt, who, case_id)
        return service(session, rt, who, case_id, parse(model, data))

    return await _case_move(request, case_id, move)


# --- the centre's board --------------------------------------------------------------------------------


def _board(request: Request, session: Session, rt: Runtime, who: Actor, template: str) -> HTMLResponse:
    q = request.query_params
    filters = BoardFilters(
        station=q.get("station") or None,
        risk=q.get("risk") or None,
        scam_type=q.get("scam_type") or None,
        state=q.get("state") or None,
        tier=int(q["tier"]) if q.get("tier", "").isdigit() else None,
    )
    rows = cases.board(session, rt, who, filters)
    triage = cases.board(session, rt, who, BoardFilters(state="triage"), limit=50)
    stations = sorted(
        (u for u in rt.org.get(session).units.values() if u.kind == "station"), key=lambda u: u.code
    )
    return render(
        request,
        template,
        who,
        rows=rows,
        triage=triage,
        filters=filters,
        stations=stations,
        wall=q.get("wall") == "1",
    )


@router.get("/board")
async def board_page(request: Request) -> Response:
    return await _view(request, lambda s, rt, who: _board(request, s, rt, who, "board.html"))


@router.get("/board/list")
async def board_list(request: Request) -> Response:
    return await _view(request, lambda s, rt, who: _board(request, s, rt, who, "fragments/board_list.html"))


@router.post("/ui/board/route/{case_id}")
async def board_route(request: Request, case_id: RowId) -> Response:
    form = await request.form()

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        dissuasion.route(session, rt, who, case_id, parse(RouteIn, {"station": form.get("station", "")}))
        return _board(request, session, rt, who, "fragments/board_list.html")

    return await _view(request, work, read_only=False)


# --- the station page --------------------------------------------------------------------------------


def _station(
    request: Request, session: Session, rt: Runtime, who: Actor, code: str, template: str, **extra: Any
) -> HTMLResponse:
    view = org.station_view(session, rt, who, code)
    unit = rt.org.get(session).station(code)
    rows = cases.board(session, rt, who, BoardFilters(station=code), limit=100) if unit else []
    return render(request, template, who, station=view, rows=rows, **extra)


@router.get("/stations/{code}")
async def station_page(request: Request, code: str) -> Response:
    return await _view(request, lambda s, rt, who: _station(request, s, rt, who, code, "station.html"))


@router.post("/ui/stations/{code}/shifts")
async def add_shift(request: Request, code: str) -> Response:
    form = await request.form()
    data = {k: str(v) for k, v in form.items()}

    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        tz = data.pop("tz_offset", "+08:00")
        for key in ("starts_at", "ends_at"):  # <input type=datetime-local> has no zone: the station's
            if data.get(key) and len(data[key]) <= 16:
                data[key] = f"{data[key]}:00{tz}"
        org.add_shift(session, rt, who, code, parse(ShiftAdd, data))
        return _station(request, session, rt, who, code, "fragments/roster.html", flash="已添加")

    return await _view(request, work, read_only=False)


@router.post("/ui/stations/{code}/shifts/{shift_id}/delete")
async def remove_shift(request: Request, code: str, shift_id: RowId) -> Response:
    def work(session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
        org.remove_shift(session, rt, who, code, shift_id)
        return _station(request, session, rt, who, code, "fragments/roster.html", flash="已删除")

    return await _view(request, work, read_only=False)


# --- the dashboard ----------------------------------------------------------------------------------


def _dashboard(request: Request, session: Session, rt: Runtime, who: Actor) -> HTMLResponse:
    q = request.query_params
    query = parse(
        KpiQuery,
        {"from": q.get("from") or None, "to": q.get("to") or None, "station": q.get("station") or None},
    )
    report = reports.kpis(session, rt, who, query)
    gettext = gettext_for(_locale(request, who))
    chart = {
        "days": [d.date.isoformat() for d in report.by_day],
        "warnings": [d.warnings for d in report.by_day],
        "dissuaded": [d.dissuaded for d in report.by_day],
        "scam": [
            {"name": gettext(SCAM_TYPE_LABELS.get(r.scam_type, r.scam_type)), "value": r.cases}
            for r in report.by_scam_type
        ],
        "labels": {"warnings": gettext("预警"), "dissuaded": gettext("劝阻成功")},
    }
    stations = sorted(
        (u for u in rt.org.get(session).units.values() if u.kind == "station"), key=lambda u: u.code
    )
    return render(
        request, "dashboard.html", who, report=report, query=query, chart_data=chart, stations=stations
    )


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    return await _view(request, lambda s, rt, who: _dashboard(request, s, rt, who))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def local_time(value: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo("Asia/Shanghai")).strftime(fmt) if value else ""


templates.env.filters.update(local=local_time, duration=duration, percent=percent)
