from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from quanzu.models.auth import ApiClient, ApiToken
from quanzu.models.org import User


def token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    return session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()


def credential(session: Session, token_hash: str) -> tuple[ApiToken, ApiClient | None, User | None] | None:
    """The token with its client or user, in one round trip (every API call starts here)."""
    stmt = (
        select(ApiToken, ApiClient, User)
        .outerjoin(ApiClient, ApiClient.id == ApiToken.client_id)
        .outerjoin(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash)
    )
    row = session.execute(stmt).first()
    return (row[0], row[1], row[2]) if row else None


def tokens_of_client(session: Session, client_id: int) -> list[ApiToken]:
    return list(
        session.scalars(select(ApiToken).where(ApiToken.client_id == client_id).order_by(ApiToken.id))
    )


def client_by_name(session: Session, name: str) -> ApiClient | None:
    return session.scalars(select(ApiClient).where(ApiClient.name == name)).first()
