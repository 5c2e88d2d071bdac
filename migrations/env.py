"""Alembic environment. The URL comes from the caller (`quanzu db upgrade`) or QUANZU_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

import quanzu.models  # noqa: F401  (registers every table for autogenerate and `alembic check`)
from quanzu.kit.db import Base, UTCDateTime, make_engine

config = context.config


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ.get(
        "QUANZU_DATABASE_URL", "sqlite:///var/quanzu.sqlite3"
    )


def _render_item(type_: str, obj: object, _autogen_context: object) -> str | bool:
    # Revisions must not import the application: our aware-datetime type is a plain
    # timezone-aware DateTime as far as the schema is concerned.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


run_migrations_online()
