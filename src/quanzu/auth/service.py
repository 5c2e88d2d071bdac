"""Passwords (argon2), personal and machine API tokens, and login sessions.

Tokens are 256-bit random strings; only their SHA-256 is stored (a slow hash adds nothing for
secrets of that entropy and would cost every API call)."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from quanzu.audit import service as audit
from quanzu.auth import repository
from quanzu.auth.actor import SYSTEM, Actor
from quanzu.auth.cache import announce_credentials_change
from quanzu.codes import MACHINE_ROLES, OrgKind, Role
from quanzu.kit.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
    ValidationFailed,
)
from quanzu.kit.runtime import Runtime
from quanzu.models.auth import ApiClient, ApiToken
from quanzu.models.org import OrgUnit, User
from quanzu.org import repository as org_repo

_hasher = PasswordHasher()
SESSION_LIFETIME = timedelta(hours=12)


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise ValidationFailed([FieldError("password", "密码至少 10 个字符")])
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(
    session: Session,
    rt: Runtime,
    kind: str,
    *,
    user_id: int | None = None,
    client_id: int | None = None,
    lifetime: timedelta | None = None,
) -> str:
    prefix = {"personal": "qzp_", "machine": "qzm_", "session": "qzs_"}[kind]
    token = prefix + secrets.token_urlsafe(32)
    now = rt.clock.now()
    session.add(
        ApiToken(
            token_hash=_token_hash(token),
            prefix=token[:10],
            user_id=user_id,
            client_id=client_id,
            kind=kind,
            created_at=now,
            expires_at=now + lifetime if lifetime else None,
        )
    )
    session.flush()
    return token


def create_personal_token(session: Session, rt: Runtime, username: str, actor: Actor = SYSTEM) -> str:
    user = org_repo.user_by_username(session, username)
    if user is None or not user.active:
        raise ValidationFailed([FieldError("user", f"no active user named {username!r}")])
    token = _new_token(session, rt, "personal", user_id=user.id)
    audit.record(session, rt.clock, actor, "token.created", "user", user.id, {"kind": "personal"})
    return token


def create_client(
    session: Session, rt: Runtime, name: str, role: Role, actor: Actor = SYSTEM, *, bank_id: int | None = None
) -> str:
    """Registers a machine client (an upstream feed or a bank's system) and returns its first
    token. A bank's system speaks for exactly one registered bank."""
    if role not in MACHINE_ROLES:
        raise ValidationFailed([FieldError("role", "machine clients are feed or bank")])
    if (role is Role.BANK) != (bank_id is not None):
        raise ValidationFailed([FieldError("bank", "a bank client names its bank; a feed names none")])
    client = repository.client_by_name(session, name)
    if client is not None:
        raise Conflict(f"client {name!r} exists already")
    client = ApiClient(name=name, role=role, bank_id=bank_id, created_at=rt.clock.now())
    session.add(client)
    session.flush()
    token = _new_token(session, rt, "machine", client_id=client.id)
    audit.record(session, rt.clock, actor, "client.created", "client", client.id, {"role": role})
    return token


def new_client_token(session: Session, rt: Runtime, name: str, actor: Actor = SYSTEM) -> str:
    """Another token for a registered machine client (after `revoke_client_tokens`, say)."""
    client = _client(session, name)
    token = _new_token(session, rt, "machine", client_id=client.id)
    audit.record(session, rt.clock, actor, "client.token_created", "client", client.id, {})
    return token


def revoke_client_tokens(session: Session, rt: Runtime, name: str, actor: Actor = SYSTEM) -> int:
    """Revokes every live token of a machine client (a leaked bank credential); refused by every
    serving process as soon as this commits (see auth/cache.py). Returns how many."""
    client = _client(session, name)
    now = rt.clock.now()
    rows = [t for t in repository.tokens_of_client(session, client.id) if t.revoked_at is None]
    for row in rows:
        row.revoked_at = now
    audit.record(
        session,
        rt.clock,
        actor,
        "client.tokens_revoked",
        "client",
        client.id,
        {"tokens": [t.prefix for t in rows]},
    )
    announce_credentials_change(session, rt.credentials)
    return len(rows)


def _client(session: Session, name: str) -> ApiClient:
    client = repository.client_by_name(session, name)
    if client is None:
        raise NotFound(f"no client {name!r}")
    return client


def authenticate(session: Session, rt: Runtime, token: str) -> Actor:
    found = repository.credential(session, _token_hash(token))
    now = rt.clock.now()
    row, client, user = found if found else (None, None, None)
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise NotAuthenticated("invalid or expired token")
    if row.client_id is not None:
        if client is None or not client.active:
            raise NotAuthenticated("client disabled")
        return Actor(
            kind="client", id=client.id, name=client.name, role=Role(client.role), bank_id=client.bank_id
        )
    if user is None or not user.active:
        raise NotAuthenticated("user disabled")
    return actor_for(session, user)


def actor_for(session: Session, user: User) -> Actor:
    """Resolves the station and branch a user's unit sits in (teams sit under stations)."""
    station_id = branch_id = None
    unit = session.get(OrgUnit, user.org_unit_id) if user.org_unit_id else None
    while unit is not None:
        if unit.kind == OrgKind.STATION and station_id is None:
            station_id = unit.id
        if unit.kind == OrgKind.BRANCH and branch_id is None:
            branch_id = unit.id
        unit = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    return Actor(
        kind="user",
        id=user.id,
        name=user.username,
        role=Role(user.role),
        station_id=station_id,
        branch_id=branch_id,
        display_name=user.display_name,
        locale=user.locale,
    )


def login(session: Session, rt: Runtime, username: str, password: str) -> tuple[Actor, str]:
    """Password login with lockout after repeated failures; returns a session token.
    Failures are counted in the caller's transaction, which the edge commits even on failure."""
    if rt.login_throttle is not None:
        rt.login_throttle.check(username)
    now = rt.clock.now()
    user = org_repo.user_by_username(session, username)
    if user is None or not user.active or not user.password_hash:
        _hasher_dummy_verify(password)  # same cost as a real check: no user enumeration by timing
        raise NotAuthenticated("用户名或密码错误")
    if user.locked_until is not None and user.locked_until > now:
        raise TooManyAttempts("登录失败次数过多，账号已临时锁定")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        max_failures = rt.login_max_failures
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(minutes=rt.login_lockout_minutes)
            user.failed_logins = 0
            audit.record(session, rt.clock, SYSTEM, "user.locked", "user", user.id, {})
        raise NotAuthenticated("用户名或密码错误") from None
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    actor = actor_for(session, user)
    token = _new_token(session, rt, "session", user_id=user.id, lifetime=SESSION_LIFETIME)
    audit.record(session, rt.clock, actor, "user.login", "user", user.id, {})
    return actor, token


_DUMMY_HASH = _hasher.hash("quanzu-dummy-password")


def _hasher_dummy_verify(password: str) -> None:
    with contextlib.suppress(VerificationError):
        _hasher.verify(_DUMMY_HASH, password)


def set_locale(session: Session, rt: Runtime, actor: Actor, locale: str) -> None:
    user = session.get(User, actor.id) if actor.kind == "user" and actor.id else None
    if user is None:
        raise Forbidden("only people have a language setting")
    user.locale = locale
    audit.record(session, rt.clock, actor, "user.locale", "user", user.id, {"locale": locale})


def logout(session: Session, rt: Runtime, token: str) -> None:
    row = repository.token_by_hash(session, _token_hash(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = rt.clock.now()
        audit.record(
            session, rt.clock, SYSTEM, "user.logout", "user", row.user_id or 0, {"token": row.prefix}
        )
