"""A side effect released by a commit may open a session of its own (the screening index reads
new watch entries that way): it must not need a second pooled connection while the committing
session still holds one, or a busy process whose every connection is held so deadlocks."""

from __future__ import annotations

from sqlalchemy import create_engine, select, text

from quanzu.kit.db import after_commit, make_sessionmaker, transaction
from quanzu.models.org import OrgUnit
from tests.conftest import Env


def test_after_commit_hooks_run_once_the_connection_is_back_in_the_pool(env: Env) -> None:
    # One connection and no overflow: before the fix the hook waited for a second one and the
    # pool gave up after its timeout (what a fully used pool looked like under load).
    engine = create_engine(env.settings.database_url, pool_size=1, max_overflow=0, pool_timeout=2)
    factory = make_sessionmaker(engine)
    seen: list[int] = []

    def read_in_a_session_of_its_own() -> None:
        with factory() as other:
            seen.append(len(other.scalars(select(OrgUnit.id)).all()))

    try:
        with transaction(factory) as session:
            session.execute(text("SELECT 1"))
            after_commit(session, read_in_a_session_of_its_own)
            assert seen == []  # nothing released before the commit
        assert seen == [0]
    finally:
        engine.dispose()
