"""Pooled connections are pinged before use only after sitting idle (`kit.db._ping_when_idle`):
a dead idle one is replaced unseen; one used a moment ago is trusted, and if it died all the
same its first statement fails as a disconnect and the pool replaces it for the next."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from quanzu.kit.db import libpq_url, make_engine
from tests.conftest import Env
from tests.faults.cluster import wait_for

pytestmark = pytest.mark.postgres_only


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(engine: Engine, pid: int) -> None:
    with psycopg.connect(libpq_url(engine), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = %s"
        wait_for("the backend to end", lambda: admin.execute(gone, (pid,)).fetchone() == (True,))


def test_a_connection_that_sat_idle_is_checked_and_a_dead_one_replaced_unseen(env: Env) -> None:
    engine = make_engine(env.settings.database_url, pool_size=1, ping_after_idle_s=0)
    try:
        first = _backend(engine)
        _terminate(engine, first)
        assert _backend(engine) != first
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged_and_a_dead_one_fails_once(env: Env) -> None:
    engine = make_engine(env.settings.database_url, pool_size=1, ping_after_idle_s=3600)
    try:
        first = _backend(engine)
        _terminate(engine, first)
        with pytest.raises(DBAPIError) as failed:
            _backend(engine)
        assert failed.value.connection_invalidated
        assert _backend(engine) != first
    finally:
        engine.dispose()
