"""The unit of work's rows kept back (`kit.db.insert_rows`): written together, yet never missed by
a reader, never out of order with objects added after them, and gone with a rolled-back savepoint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from quanzu.auth.actor import SYSTEM
from quanzu.cases.timeline import add_event
from quanzu.kit.db import insert_rows, savepoint, transaction
from quanzu.models.cases import Case, CaseEvent
from tests.conftest import Env
from tests.factories import bearer, seed, warning


@contextmanager
def inserts_into(engine: Engine, table: str) -> Iterator[list[int]]:
    """How many INSERT statements (an executemany counts once) reach `table`, and with how many rows."""
    seen: list[int] = []

    def count(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if statement.startswith(f"INSERT INTO {table} "):
            seen.append(len(params) if many else 1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _case_id(env: Env) -> int:
    district = seed(env)
    response = env.client.post("/api/v1/warnings", json=warning(), headers=bearer(district.feed_token))
    return int(response.json()["case_id"])


def _kinds(env: Env, case_id: int) -> list[str]:
    with env.reader() as s:
        stmt = select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        return [k for k in s.scalars(stmt) if k.startswith("t.")]


def _rows(env: Env, case_id: int, *kinds: str) -> list[dict[str, Any]]:
    now = env.clock.now()
    return [{"case_id": case_id, "at": now, "kind": k, "actor": "test", "data": {}} for k in kinds]


def test_rows_asked_for_in_several_calls_go_in_one_statement_at_commit(env: Env) -> None:
    case_id = _case_id(env)
    with inserts_into(env.app.state.quanzu.engine, "case_events") as inserts:
        with transaction(env.factory) as session:
            for kind in ("t.a", "t.b", "t.c"):
                insert_rows(session, CaseEvent, _rows(env, case_id, kind))
            assert inserts == []  # kept back
        assert inserts == [3]
    assert _kinds(env, case_id) == ["t.a", "t.b", "t.c"]


def test_a_reader_in_the_transaction_sees_the_rows_kept_back(env: Env) -> None:
    case_id = _case_id(env)
    count = select(func.count()).select_from(CaseEvent)
    engine = env.app.state.quanzu.engine
    with inserts_into(engine, "case_events") as inserts, transaction(env.factory) as session:
        before = session.scalar(count) or 0
        insert_rows(session, CaseEvent, _rows(env, case_id, "t.a", "t.b"))
        session.expire_all()
        session.get(Case, case_id)  # a read of another table writes nothing early
        assert inserts == []
        assert session.scalar(count) == before + 2
        assert inserts == [2]


def test_an_object_added_after_the_rows_kept_back_comes_after_them(env: Env) -> None:
    case_id = _case_id(env)
    with transaction(env.factory) as session:
        insert_rows(session, CaseEvent, _rows(env, case_id, "t.first"))
        case = session.get(Case, case_id)
        assert case is not None
        add_event(session, env.rt, case, "t.second", SYSTEM)
        session.flush()
    assert _kinds(env, case_id) == ["t.first", "t.second"]


def test_a_rolled_back_savepoint_takes_its_rows_kept_back_with_it(env: Env) -> None:
    case_id = _case_id(env)
    with transaction(env.factory) as session:
        insert_rows(session, CaseEvent, _rows(env, case_id, "t.kept"))
        with pytest.raises(RuntimeError):
            _refused(session, env, case_id)
        insert_rows(session, CaseEvent, _rows(env, case_id, "t.after"))
    assert _kinds(env, case_id) == ["t.kept", "t.after"]


def _refused(session: Session, env: Env, case_id: int) -> None:
    with savepoint(session):
        insert_rows(session, CaseEvent, _rows(env, case_id, "t.dropped"))
        raise RuntimeError("refused")


def test_a_rolled_back_transaction_writes_none_of_them(env: Env) -> None:
    case_id = _case_id(env)
    with pytest.raises(RuntimeError):
        _failed_request(env, case_id)
    assert _kinds(env, case_id) == []


def _failed_request(env: Env, case_id: int) -> None:
    with transaction(env.factory) as session:
        insert_rows(session, CaseEvent, _rows(env, case_id, "t.never"))
        raise RuntimeError("the request fails")
