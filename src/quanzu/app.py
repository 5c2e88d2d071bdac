"""The application factory: one FastAPI app serving the API, the live channel and the docs."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from quanzu.audit.batcher import AuditBatcher
from quanzu.auth.cache import CHANNEL as CREDENTIALS_CHANNEL
from quanzu.auth.cache import CredentialCache
from quanzu.auth.endpoints import router as auth_router
from quanzu.banks.endpoints import BODY_MODELS as BANK_BODIES
from quanzu.banks.endpoints import router as banks_router
from quanzu.banks.keeper import WatchKeeper
from quanzu.banks.screen_route import PATH as SCREEN_PATH
from quanzu.banks.screen_route import ScreenRoute
from quanzu.briefings.endpoints import router as briefings_router
from quanzu.cases.endpoints import router as cases_router
from quanzu.config import Settings
from quanzu.dispatch.endpoints import router as dispatch_router
from quanzu.dispatch.live import LiveHub
from quanzu.dissuasion.endpoints import router as workflow_router
from quanzu.followups.endpoints import BODY_MODELS as FOLLOWUP_BODIES
from quanzu.followups.endpoints import router as followups_router
from quanzu.helpers.endpoints import BODY_MODELS as HELPER_BODIES
from quanzu.helpers.endpoints import router as helpers_router
from quanzu.intake.endpoints import PATH as WARNINGS_PATH
from quanzu.intake.endpoints import WarningRoute
from quanzu.intake.endpoints import router as intake_router
from quanzu.intel.endpoints import BODY_MODELS as INTEL_BODIES
from quanzu.intel.endpoints import router as intel_router
from quanzu.kit.clock import Clock, SystemClock
from quanzu.kit.crypto import PiiCipher
from quanzu.kit.db import make_engine, make_sessionmaker
from quanzu.kit.errors import DomainError, NotFound
from quanzu.kit.groupcommit import GroupCommit
from quanzu.kit.listener import PgListener
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import REF_TEMPLATE
from quanzu.kit.writer import WriterClient, Writes
from quanzu.org.cache import RosterCache
from quanzu.policy.service import load_policy
from quanzu.reports.endpoints import router as reports_router
from quanzu.review.endpoints import BODY_MODELS as REVIEW_BODIES
from quanzu.review.endpoints import router as review_router
from quanzu.security import setup as hardening
from quanzu.security.middleware import Receive, Scope, Send
from quanzu.web.bank_pages import router as bank_pages_router
from quanzu.web.briefing_pages import router as briefing_pages_router
from quanzu.web.edge import AppState, error_body
from quanzu.web.followup_pages import router as followup_pages_router
from quanzu.web.helper_pages import router as helper_pages_router
from quanzu.web.intel_pages import router as intel_pages_router
from quanzu.web.lean import has_authorization
from quanzu.web.pages import router as pages_router
from quanzu.web.review_pages import router as review_pages_router
from quanzu.worker.runner import Worker

log = logging.getLogger(__name__)


class QuanzuApp(FastAPI):
    """FastAPI, plus lean routes (`web/lean.py`) dispatched before its middleware stack by exact
    method and path, for calls with an Authorization header: the bank screening call and a
    feed's warning. Each carries its own hardening layer. Everything else — any other method or
    path, a browser's cookie session — goes the usual way."""

    lean_routes: dict[tuple[str, str], Callable[[Scope, Receive, Send], Awaitable[None]]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.lean_routes.get((scope["method"], scope["path"]))
            if route is not None and has_authorization(scope):
                await route(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings, clock: Clock | None = None, *, start_worker: bool | None = None
) -> FastAPI:
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    factory = make_sessionmaker(engine)
    hub = LiveHub()
    rt = Runtime(
        clock=clock or SystemClock(),
        cipher=PiiCipher(settings.resolved_pii_key()),
        live=hub,
        base_url=settings.base_url,
        login_max_failures=settings.login_max_failures,
        login_lockout_minutes=settings.login_lockout_minutes,
        policy=load_policy(settings.policy_file),
        sms=settings.sms_gateway(),
        data_dir=settings.data_dir,
    )
    limiter = hardening.limiter_for(settings, rt)
    keeper = rt.watch = WatchKeeper(make_sessionmaker(engine, read_only=True), rt.cipher)
    # One LISTEN connection for the process (PostgreSQL): other processes' watch changes and
    # live events reach this one through it.
    listener = PgListener(engine)
    keeper.attach(listener)
    credentials = rt.credentials = CredentialCache(settings.auth_cache_seconds, rt.clock)
    listener.on(CREDENTIALS_CHANNEL, credentials.on_notification)
    listener.on_reconnect(credentials.forget_all)
    rt.roster = RosterCache.listening(listener)
    hub.attach(listener, make_sessionmaker(engine, read_only=True))
    batcher = rt.audit_batcher = AuditBatcher(engine, factory, rt.clock)
    worker = Worker(
        factory, rt, max_attempts=settings.delivery_max_attempts, timeout_s=settings.delivery_timeout_s
    )
    run_worker = settings.embedded_worker if start_worker is None else start_worker
    if run_worker:
        rt.wake_delivery = worker.wake

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        listener.start()  # listening before the index is built: no change falls in between
        keeper.start()  # the screening index is built before the first request is served
        # The index is millions of long-lived objects: keep the cyclic GC from walking them again.
        gc.freeze()
        if run_worker:
            worker.start()
        yield
        if run_worker:
            worker.stop()
        if writer is not None:
            await writer.close()
        await batcher.close()
        listener.stop()
        engine.dispose()

    commits = GroupCommit.configured(engine, settings.group_commit_max, settings.group_commit_writers)
    writer = WriterClient(settings.writer_socket, rt.clock) if settings.writer_socket else None

    app = QuanzuApp(
        title="Quanzu 劝阻 API",
        version="1",
        description="Early-warning intake, routing and dispatch for an anti-fraud centre.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # No OpenTelemetry collector on the police intranet: FastAPI's spans and metrics would only
        # cost every request its provider checks (about 2 % of intake's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.quanzu = app_state = AppState(
        settings=settings,
        engine=engine,
        factory=factory,
        reader=make_sessionmaker(engine, read_only=True),
        rt=rt,
        hub=hub,
        credentials=credentials,
        commits=commits,
        writes=Writes(commits, rt, writer),
    )
    app.lean_routes = {
        ("POST", path): hardening.harden(route(app_state), settings, limiter)
        for path, route in ((SCREEN_PATH, ScreenRoute), (WARNINGS_PATH, WarningRoute))
    }
    app.state.worker = worker
    routers = (
        intake_router,
        cases_router,
        workflow_router,
        banks_router,
        helpers_router,
        followups_router,
        intel_router,
        reports_router,
        review_router,
        briefings_router,
        auth_router,
        dispatch_router,
        helper_pages_router,
        bank_pages_router,
        review_pages_router,
        followup_pages_router,
        intel_pages_router,
        briefing_pages_router,
        pages_router,
    )
    for router in routers:
        app.include_router(router)
    _mount_static(app, settings)
    _mount_docs(app)
    _document_raw_bodies(app)
    _error_handlers(app)
    hardening.install(app, settings, limiter)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


VENDOR_FILES = {  # what the pages load, from the npm packages installed at setup (web/package.json)
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "echarts.min.js": "echarts/dist/echarts.min.js",
}


def _mount_static(app: FastAPI, settings: Settings) -> None:
    app.mount(
        "/static/own", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static-own"
    )
    modules = settings.web_assets_dir

    @app.get("/static/vendor/{name}", include_in_schema=False)
    def vendor(name: str) -> FileResponse:
        relative = VENDOR_FILES.get(name)
        if relative is None or not (modules / relative).is_file():
            raise NotFound(f"no asset {name}; run `make install` (npm ci in web/)")
        return FileResponse(modules / relative, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/{name}", include_in_schema=False)
    def own(name: str) -> FileResponse:
        path = Path(__file__).parent / "web" / "static" / name
        if "/" in name or not path.is_file():
            raise NotFound(f"no asset {name}")
        return FileResponse(path)


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI 5 from the fastapi-offline package's files: the docs work on an isolated intranet."""
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        # FastAPI's page starts Swagger UI with an inline script, which our CSP refuses.
        return HTMLResponse(DOCS_PAGE)


DOCS_PAGE = """<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="/docs-assets/swagger-ui.css">
<link rel="icon" href="/docs-assets/favicon.png">
<title>Quanzu API</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs-assets/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""


def _document_raw_bodies(app: FastAPI) -> None:
    """Endpoints that read their JSON body themselves (to answer our own 422 format) describe it
    with `openapi_extra`; the models those descriptions refer to are added to the components."""
    from fastapi.openapi.utils import get_openapi

    from quanzu.dissuasion.schemas import AssignIn, CloseIn, EscalateIn, RouteIn, StepIn, TakeoverIn
    from quanzu.intake.schemas import WarningBatchIn, WarningIn

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in (
                WarningIn,
                WarningBatchIn,
                StepIn,
                CloseIn,
                EscalateIn,
                AssignIn,
                TakeoverIn,
                RouteIn,
                *BANK_BODIES,
                *HELPER_BODIES,
                *REVIEW_BODIES,
                *FOLLOWUP_BODIES,
                *INTEL_BODIES,
            ):
                schema = model.model_json_schema(ref_template=REF_TEMPLATE)
                components.update(schema.pop("$defs", {}))
                components[model.__name__] = schema
            hardening.declare_error_responses(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, hardening.request_validation_error)

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        body, headers = error_body(exc)
        return JSONResponse(body, status_code=exc.status_code, headers=headers)
