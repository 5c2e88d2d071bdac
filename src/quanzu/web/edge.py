"""Shared helpers for the HTTP edge: the app state, the request's transaction, the actor,
bounded JSON bodies. Endpoints use these and one service call; no SQL here."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from quanzu.auth import service as auth
from quanzu.auth.actor import Actor
from quanzu.auth.cache import CredentialCache
from quanzu.config import Settings
from quanzu.dispatch.live import LiveHub
from quanzu.kit.db import transaction
from quanzu.kit.errors import DomainError, FieldError, Forbidden, NotAuthenticated, ValidationFailed
from quanzu.kit.groupcommit import GroupCommit
from quanzu.kit.runtime import Runtime
from quanzu.kit.writer import Writes

SESSION_COOKIE = "qz_session"
R = TypeVar("R")


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    reader: sessionmaker[Session]
    rt: Runtime
    hub: LiveHub
    credentials: CredentialCache
    commits: GroupCommit  # intake's writes, committed together when they arrive together
    writes: Writes  # intake's jobs: through the shared writer if there is one, else `commits`


def state(request: Request) -> AppState:
    app_state: AppState = request.app.state.quanzu
    return app_state


@contextmanager
def unit_of_work(request: Request, *, read_only: bool = False) -> Iterator[tuple[Session, Runtime]]:
    """The request owns the transaction: commit when the handler succeeds, else roll back.
    Read-only requests must not write (on SQLite they do not hold the write lock)."""
    st = state(request)
    with transaction(st.reader if read_only else st.factory) as session:
        yield session, st.rt


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(SESSION_COOKIE)


def actor(session: Session, request: Request) -> Actor:
    token = bearer_token(request)
    if not token:
        raise NotAuthenticated("missing bearer token")
    if "authorization" not in request.headers and request.method not in SAFE_METHODS:
        _check_csrf(request, token)  # a cookie rides along on cross-site posts; a header does not
    return auth.authenticate(session, state(request).rt, token)


async def run_service(
    request: Request, work: Callable[[Session, Runtime, Actor], R], *, read_only: bool = False
) -> R:
    """An API call's usual shape: one service call in the request's transaction, as its actor,
    in a worker thread (the services are synchronous)."""

    def go() -> R:
        with unit_of_work(request, read_only=read_only) as (session, rt):
            return work(session, rt, actor(session, request))

    return await run_in_threadpool(go)


async def machine_actor(request: Request) -> Actor:
    """A bank's or feed's system, from a bearer header, through the credential cache (a user's
    bearer token is looked up on every call)."""
    return await machine_actor_of(state(request), request.headers.get("authorization", ""))


async def machine_actor_of(st: AppState, authorization: str) -> Actor:
    """`machine_actor` from the raw header (the lean screening route has no `Request`)."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("missing bearer token")
    found = st.credentials.get(token)
    if found is not None:
        return found

    def lookup() -> Actor:
        with transaction(st.reader) as session:
            return auth.authenticate(session, st.rt, token)

    found = await run_in_threadpool(lookup)
    if found.kind == "client":  # only machine credentials announce their revocation (auth/cache.py)
        st.credentials.put(token, found)
    return found


def error_body(exc: DomainError) -> tuple[dict[str, object], dict[str, str]]:
    """The JSON body and headers of a domain error's answer, the same on every route."""
    body: dict[str, object] = {"error": exc.code, "message": exc.message}
    errors = getattr(exc, "errors", None)
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return body, headers


def _check_csrf(request: Request, session_token: str) -> None:
    expected = state(request).rt.cipher.csrf_token(session_token)
    if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), expected):
        raise Forbidden("missing or wrong CSRF token; reload the page")


async def json_body(request: Request) -> Any:
    """The body as JSON, refusing oversize bodies before reading them whole."""
    limit = state(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(limit)
    return loads_json(body)


def loads_json(raw: bytes | bytearray) -> Any:
    """A request body as JSON, or the 422 that names it."""
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationFailed([FieldError("body", "请求体不是有效的 JSON")]) from None


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.errors = [FieldError("body", f"请求体超过 {limit} 字节上限")]
