"""Login for people (session cookie or token), and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from quanzu.auth import service
from quanzu.kit.errors import DomainError
from quanzu.kit.validation import parse
from quanzu.web.edge import SESSION_COOKIE, actor, bearer_token, json_body, state, unit_of_work

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class LoginOut(BaseModel):
    token: str
    username: str
    role: str


class MeOut(BaseModel):
    kind: str
    name: str
    role: str
    station_id: int | None
    branch_id: int | None


@router.post("/login", response_model=LoginOut)
async def login(request: Request, response: Response) -> LoginOut:
    """Password login; answers a session token and sets it as an HttpOnly cookie.
    Repeated failures lock the account for a while (429)."""
    creds = parse(LoginIn, await json_body(request))
    st = state(request)
    session = st.factory()
    try:
        who, token = service.login(session, st.rt, creds.username, creds.password)
        session.commit()
    except DomainError:
        session.commit()  # the failure count must persist, or lockout would never trigger
        raise
    finally:
        session.close()
    secure = st.settings.base_url.startswith("https://")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure,
        max_age=int(service.SESSION_LIFETIME.total_seconds()),
    )
    return LoginOut(token=token, username=who.name, role=who.role)


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response) -> None:
    token = bearer_token(request)
    st = state(request)
    if token:
        with st.factory.begin() as session:
            service.logout(session, st.rt, token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", response_model=MeOut)
def me(request: Request) -> MeOut:
    with unit_of_work(request, read_only=True) as (session, _rt):
        who = actor(session, request)
    return MeOut(
        kind=who.kind, name=who.name, role=who.role, station_id=who.station_id, branch_id=who.branch_id
    )
