from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from quanzu.models.auth import ApiClient, ApiToken


def token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    return session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()


def client_by_name(session: Session, name: str) -> ApiClient | None:
    return session.scalars(select(ApiClient).where(ApiClient.name == name)).first()
