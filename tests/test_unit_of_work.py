"""The unit of work's rows kept back (`kit.db.insert_rows`): written together, yet never missed by
a reader, never out of order with objects added after them, and gone with a rolled-back savepoint;
on PostgreSQL every table's in one statement of unnested arrays, which writes what an INSERT
would (and `insert_returning_ids`, its ids drawn first, too).
And objects added with ids drawn ahead (`kit.db.add_with_id`): written together at the next flush,
in the order their foreign keys need, found by `get` before that; on PostgreSQL a group's locks
draw the ids their jobs will add, and a transaction's last rows carry its notifications."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import Engine, Table, event, func, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from quanzu.kit.db import (
    DRAW_MIN_ROWS,
    add_with_id,
    advisory_key,
    draw_ids,
    get,
    hold_advisory_locks,
    insert_returning_ids,
    insert_rows,
    libpq_url,
    notify_at_commit,
    savepoint,
    take_ids,
    transaction,
    unnestable,
    update_by_id,
)
from quanzu.models.audit import AuditEntry
from quanzu.models.cases import Case, CaseEvent, CaseSla, EarlyWarning, Person
from quanzu.models.dispatch import Notification
from quanzu.models.intel import ScamSuggestion
from quanzu.models.timers import Timer
from tests.conftest import Env
from tests.factories import bearer, seed, statements_sent, warning


def statements_to(env: Env, *tables: str) -> AbstractContextManager[list[str]]:
    """The statements that insert into or update any of `tables`."""
    changes = [f"{verb} {table} " for table in tables for verb in ("INSERT INTO", "UPDATE")]
    return statements_sent(env, lambda statement: any(change in statement for change in changes))


@contextmanager
def inserts_into(engine: Engine, table: str) -> Iterator[list[int]]:
    """How many INSERT statements (an executemany counts once) reach
    `table` alone, and with how many rows (an insert of unnested arrays: their length)."""
    seen: list[int] = []

    def count(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if statement.startswith(f"INSERT INTO {table} "):
            unnested = " FROM jsonb_array_elements(" in statement
            seen.append(len(json.loads(params[0])) if unnested else len(params) if many else 1)

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


def test_a_transactions_rows_for_several_tables_go_in_one_statement(env: Env) -> None:
    """PostgreSQL: one statement for every table's rows kept back (SQLite: one per table); a table
    whose rows come in two column sets still gets its rows in the order they were asked for."""
    case_id = _case_id(env)
    due = env.clock.now()
    timers = [
        {"kind": "t.one", "subject_id": case_id, "key": "k", "token": "a", "due_at": due},
        {"kind": "t.two", "subject_id": case_id, "key": "k", "token": "b", "due_at": due, "outcome": None},
        {"kind": "t.three", "subject_id": case_id, "key": "k", "token": "c", "due_at": due},
    ]
    with statements_to(env, "case_events", "timers") as statements:
        with transaction(env.factory) as session:
            insert_rows(session, CaseEvent, _rows(env, case_id, "t.a", "t.b"))
            insert_rows(session, Timer, timers[:1])
            insert_rows(session, CaseEvent, _rows(env, case_id, "t.c"))
        with transaction(env.factory) as session:
            insert_rows(session, Timer, timers[1:])
    assert _kinds(env, case_id) == ["t.a", "t.b", "t.c"]
    with env.reader() as session:
        kinds = session.scalars(select(Timer.kind).where(Timer.kind.startswith("t.")).order_by(Timer.id))
        assert list(kinds) == ["t.one", "t.two", "t.three"]
    if env.is_postgres:  # both tables at once; then the two column sets of `timers`, in order
        assert len(statements) == 3 and "case_events" in statements[0] and "timers" in statements[0]
    else:
        assert len(statements) == 4


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
        session.add(CaseEvent(**_rows(env, case_id, "t.second")[0]))
        session.flush()
    assert _kinds(env, case_id) == ["t.first", "t.second"]


def test_with_autoflush_off_a_query_flushes_only_what_was_added_to_its_tables(env: Env) -> None:
    """Intake turns autoflush off; a query still finds the objects added to the tables it reads."""
    case_id = _case_id(env)
    with transaction(env.factory) as session, session.no_autoflush:
        clock = CaseSla(case_id=case_id, kind="t.extra", due_at=env.clock.now(), token="x")
        session.add(clock)
        session.scalar(select(func.count()).select_from(Person))  # another table: nothing flushed
        assert clock in session.new
        kinds = session.scalars(select(CaseSla.kind).where(CaseSla.case_id == case_id)).all()
        assert "t.extra" in kinds and clock not in session.new


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


# Values the JSON rows must carry exactly as an INSERT does: zones, JSON (keys that are not text
# too), NULL, and text that needs escaping (tab, newline, backslash).
_AWKWARD: list[dict[str, Any]] = [
    {"kind": "t.zone", "at": datetime(2026, 11, 29, 9, 30, 1, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))},
    {
        "kind": "t.tab\there",
        "data": {"文本": "换行\n反斜杠\\", "n": [1, 2.5, None], "ok": True, "by_id": {7: "七"}},
    },
    {"kind": "t.null", "actor": "\\N", "data": None},
]


def _awkward_rows(env: Env, case_id: int) -> list[dict[str, Any]]:
    base = {"case_id": case_id, "at": env.clock.now(), "actor": "测试 \\ actor", "data": {"k": "v"}}
    return [{**base, **row} for row in _AWKWARD]


def _events(session: Session, case_id: int, prefix: str) -> list[tuple[Any, ...]]:
    stmt = select(CaseEvent.kind, CaseEvent.at, CaseEvent.actor, CaseEvent.data).where(
        CaseEvent.case_id == case_id, CaseEvent.kind.startswith(prefix)
    )
    return [tuple(r) for r in session.execute(stmt.order_by(CaseEvent.id))]


def test_rows_kept_back_read_back_as_an_insert_writes_them(env: Env) -> None:
    """On PostgreSQL the rows kept back go in as unnested arrays: each value reads back exactly
    as the same row written by a plain INSERT."""
    case_id = _case_id(env)
    rows = _awkward_rows(env, case_id) * 3  # enough rows to draw ids for
    assert len(rows) >= DRAW_MIN_ROWS
    engine = env.app.state.quanzu.engine
    with inserts_into(engine, "case_events") as inserts, transaction(env.factory) as session:
        session.execute(insert(CaseEvent), [{**r, "kind": "i." + r["kind"]} for r in rows])
        insert_rows(session, CaseEvent, [{**r, "kind": "c." + r["kind"]} for r in rows])
    assert inserts == [len(rows), len(rows)]  # the INSERT, then the rows kept back
    with env.reader() as session:
        inserted, copied = _events(session, case_id, "i."), _events(session, case_id, "c.")
    assert [r[1:] for r in copied] == [r[1:] for r in inserted]
    assert [r[0] for r in copied] == ["c." + r["kind"] for r in rows]
    assert copied[0][1] == rows[0]["at"] and copied[2][3] is None


def _warning_rows(env: Env, case_id: int) -> list[dict[str, Any]]:
    """Warnings with a value of every kind their columns hold: bytes (a NUL, a backslash), a
    decimal, both booleans, a time in another zone, text with quotes and escapes."""
    with env.reader() as session:
        person_id = session.scalars(select(Case.person_id).where(Case.id == case_id)).one()
    at = datetime(2026, 11, 29, 17, 45, 0, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    base = {
        "source": "t",
        "content_hash": "h",
        "case_id": case_id,
        "person_id": person_id,
        "issued_at": at,
        "received_at": env.clock.now(),
        "scam_type": "other",
        "risk_level": "high",
        "routing_method": "triage",
        "station_id": None,
    }
    return [
        {
            **base,
            "external_id": "a",
            "merged": True,
            "amount_at_risk": Decimal("12345678901234.56"),
            "description": "引号 ' \" 反斜杠 \\ \\u0041 制表\t",
            "routing_detail": "",
            "target_enc": b"\x00\\\xff",
        },
        {
            **base,
            "external_id": "b",
            "merged": False,
            "amount_at_risk": None,
            "description": "",
            "routing_detail": "\n",
            "target_enc": b"",
        },
    ]


def test_every_kind_of_value_reads_back_as_an_insert_writes_it(env: Env) -> None:
    case_id = _case_id(env)
    rows = _warning_rows(env, case_id)
    engine = env.app.state.quanzu.engine
    with inserts_into(engine, "warnings") as inserts, transaction(env.factory) as session:
        session.execute(insert(EarlyWarning), [{**r, "source": "i"} for r in rows])
        insert_rows(session, EarlyWarning, [{**r, "source": "k"} for r in rows])
    assert inserts[-1] == 2  # the rows kept back, in one statement (PostgreSQL: as JSON)
    columns = [c for c in EarlyWarning.__table__.c if c.name not in ("id", "source")]
    with env.reader() as session:
        stored = {
            source: [
                tuple(r)
                for r in session.execute(
                    select(*columns).where(EarlyWarning.source == source).order_by(EarlyWarning.id)
                )
            ]
            for source in ("i", "k")
        }
    assert stored["k"] == stored["i"] and len(stored["k"]) == 2
    assert stored["k"][0][columns.index(EarlyWarning.__table__.c.target_enc)] == b"\x00\\\xff"


def test_a_value_too_long_for_its_column_fails_as_an_insert_would(env: Env) -> None:
    """PostgreSQL refuses it (SQLite does not check lengths); it is never cut short."""
    if not env.is_postgres:
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    case_id = _case_id(env)
    row = {**_warning_rows(env, case_id)[1], "scam_type": "x" * 33}
    with pytest.raises(DBAPIError, match="too long"), transaction(env.factory) as session:
        insert_rows(session, EarlyWarning, [row])


def test_an_infinite_float_goes_in_as_an_insert_writes_it(env: Env) -> None:
    case_id = _case_id(env)
    row: dict[str, Any] = {
        "case_id": case_id,
        "scam_type": None,
        "confidence": float("inf"),
        "model": "t",
        "drivers": [],
        "created_at": env.clock.now(),
    }
    engine = env.app.state.quanzu.engine
    with inserts_into(engine, "scam_suggestions") as inserts, transaction(env.factory) as session:
        insert_rows(session, ScamSuggestion, [row])
    assert inserts == [1]
    with env.reader() as session:
        confidence = session.scalars(
            select(ScamSuggestion.confidence).where(ScamSuggestion.case_id == case_id)
        )
        assert confidence.one() == math.inf


@pytest.mark.parametrize("n", [3, 40])  # an INSERT … RETURNING, or (PostgreSQL) ids drawn first
def test_ids_come_back_in_the_order_of_the_rows(env: Env, n: int) -> None:
    case_id = _case_id(env)
    rows = [{**_rows(env, case_id, f"t.{i}")[0], "data": {"n": i}} for i in range(n)]
    with transaction(env.factory) as session:
        insert_rows(session, CaseEvent, _rows(env, case_id, "t.kept"))
        ids = insert_returning_ids(session, CaseEvent, rows)
    assert ids == sorted(ids) and len(set(ids)) == n
    with env.reader() as session:
        stmt = select(CaseEvent.id, CaseEvent.kind).where(CaseEvent.case_id == case_id)
        kinds = {i: k for i, k in session.execute(stmt.order_by(CaseEvent.id)) if k.startswith("t.")}
    assert [kinds[i] for i in ids] == [r["kind"] for r in rows]
    assert list(kinds.values()) == ["t.kept", *(r["kind"] for r in rows)]  # asked for first, first in


def test_rows_go_in_as_json_only_where_the_database_fills_in_every_default(env: Env) -> None:
    """A column left out whose default SQLAlchemy fills in (the audit entry's `detail`) needs
    the INSERT; SQLite always takes it."""
    table = AuditEntry.__table__
    assert isinstance(table, Table)
    every = [c.name for c in table.c if c.name != "id"]
    with env.factory() as session:
        connection = session.connection()
        on_postgres = connection.dialect.name == "postgresql"
        assert unnestable(connection, table, every) is on_postgres
        assert unnestable(connection, table, [c for c in every if c != "detail"]) is False


def _person(env: Env) -> Person:
    return Person(created_at=env.clock.now(), name_masked="张*")


def _case(env: Env, person: Person) -> Case:
    now = env.clock.now()
    return Case(
        person_id=person.id,
        state="triage",
        tier=1,
        risk_level="high",
        scam_type="other",
        urgency=1,
        signal_count=1,
        routing_method="triage",
        routing_detail="",
        opened_at=now,
        updated_at=now,
    )


def test_objects_added_with_drawn_ids_go_in_together_and_in_foreign_key_order(env: Env) -> None:
    """Three persons and their cases, added one after the other: on PostgreSQL one statement at
    commit for both tables (foreign keys are checked at its end), found by `get` before it;
    without drawn ids (SQLite), each object is flushed as it is added."""
    with statements_to(env, "persons", "cases") as statements, transaction(env.factory) as session:
        draw_ids(session, {Person: 3, Case: 3})
        added: list[Case] = []
        for _ in range(3):
            person = _person(env)
            add_with_id(session, person)
            added.append(_case(env, person))
            add_with_id(session, added[-1])
        assert all(get(session, Case, case.id) is case for case in added)
        assert len(statements) == (0 if env.is_postgres else 6)
    if env.is_postgres:
        [both] = statements
        assert "INSERT INTO persons" in both and "INSERT INTO cases" in both
    ids = [case.id for case in added]
    assert ids == sorted(ids)
    with env.reader() as session:
        stored = session.execute(select(Case.id, Case.person_id).where(Case.id.in_(ids)).order_by(Case.id))
        assert [tuple(row) for row in stored] == [(c.id, c.person_id) for c in added]


def test_an_object_written_as_a_row_joins_the_session_and_its_later_changes_are_flushed(env: Env) -> None:
    """Written early (a reader of its table), the case is persistent and nothing of it is expired:
    a change made afterwards is flushed as an UPDATE, and an object added the usual way that
    refers to an object not written yet makes the flush write that one first."""
    with transaction(env.factory) as session:
        draw_ids(session, {Person: 2, Case: 2})
        person, other = _person(env), _person(env)
        add_with_id(session, person)
        add_with_id(session, other)
        case = _case(env, person)
        add_with_id(session, case)
        assert session.scalar(select(func.count()).select_from(Case).where(Case.id == case.id)) == 1
        assert case in session and not inspect(case).expired_attributes and case.signal_count == 1
        case.urgency = 77
        session.add(_case(env, other))  # refers to `other`, still a pending row: written first
        session.flush()
    with env.reader() as session:
        stored = session.get(Case, case.id)
        assert stored is not None and stored.urgency == 77 and stored.signal_count == 1
        assert session.scalar(select(func.count()).select_from(Case).where(Case.person_id == other.id)) == 1


def test_a_savepoint_rolled_back_after_its_objects_were_written_takes_them_out_of_the_session(
    env: Env,
) -> None:
    with transaction(env.factory) as session:
        draw_ids(session, {Person: 2})
        dropped = _person(env)
        with pytest.raises(RuntimeError):
            _write_then_fail(session, dropped)
        assert dropped not in session and get(session, Person, dropped.id) is None
    with env.reader() as session:
        assert session.get(Person, dropped.id) is None


def _write_then_fail(session: Session, obj: Person) -> None:
    with savepoint(session):
        add_with_id(session, obj)
        session.scalar(select(func.count()).select_from(Person))  # writes it
        assert obj in session
        raise RuntimeError("rolled back")


def test_rows_kept_back_that_refer_to_objects_added_with_drawn_ids_go_in_after_them(env: Env) -> None:
    """A statement reading the events' table writes the kept rows early: their case first."""
    seed(env)
    with transaction(env.factory) as session:
        draw_ids(session, {Person: 1, Case: 1})
        person = _person(env)
        add_with_id(session, person)
        case = _case(env, person)
        add_with_id(session, case)
        with session.no_autoflush:
            insert_rows(session, CaseEvent, _rows(env, case.id, "t.kept"))
            kinds = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id))
            assert list(kinds) == ["t.kept"]


def test_drawn_ids_run_out_into_more_and_a_rolled_back_savepoint_takes_its_objects(env: Env) -> None:
    with transaction(env.factory) as session:
        draw_ids(session, {Person: 1})
        kept = _person(env)
        add_with_id(session, kept)
        dropped = _person(env)
        with pytest.raises(RuntimeError):
            _add_then_fail(session, dropped)
        assert get(session, Person, kept.id) is kept
        assert get(session, Person, dropped.id) is None
        more = take_ids(session, Person, 2)
    if not env.is_postgres:
        assert more is None  # no sequences: each object was flushed for its id
        return
    assert more is not None and len(set(more)) == 2 and min(more) > dropped.id > kept.id
    with env.reader() as session:
        assert session.scalars(select(Person.id)).all() == [kept.id]


def _add_then_fail(session: Session, obj: Person) -> None:
    with savepoint(session):
        add_with_id(session, obj)
        raise RuntimeError("rolled back")


def test_rows_changed_by_id_take_a_statement_per_set_of_columns(env: Env) -> None:
    """`update_by_id`, as the worker marks the timers it fired (or reschedules a failed one): on
    PostgreSQL one statement per set of columns, elsewhere the ORM's bulk UPDATE."""
    _case_id(env)  # its SLA timers
    now = env.clock.now()
    with env.reader() as session:
        ids = session.scalars(select(Timer.id).order_by(Timer.id).limit(3)).all()
    assert len(ids) == 3
    marks: list[dict[str, Any]] = [
        {"id": ids[0], "fired_at": now, "outcome": "acted"},
        {"id": ids[1], "due_at": datetime(2030, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")), "outcome": "error"},
        {"id": ids[2], "fired_at": now, "outcome": "引号 ' \" \\ stale"},
    ]
    with statements_to(env, "timers") as statements, transaction(env.factory) as session:
        update_by_id(session, Timer, marks)
    if env.is_postgres:
        assert len(statements) == 2 and all(s.startswith("UPDATE timers") for s in statements)
    with env.reader() as session:
        stored = {t.id: t for t in session.scalars(select(Timer).where(Timer.id.in_(ids)))}
    assert [stored[i].outcome for i in ids] == [m["outcome"] for m in marks]
    assert stored[ids[0]].fired_at == now and stored[ids[1]].fired_at is None
    assert stored[ids[1]].due_at == marks[1]["due_at"]


@pytest.mark.postgres_only
def test_notifications_go_with_the_last_rows_kept_back_in_one_statement(env: Env) -> None:
    """A transaction's last rows (after the before-commit hooks: the audit chain's) and its
    notifications share a round trip; the notifications are heard after the commit, in order,
    and without a rolled-back savepoint's."""
    case_id = _case_id(env)
    listener = psycopg.connect(libpq_url(env.app.state.quanzu.engine), autocommit=True)
    listener.execute("LISTEN t_uow")
    with statements_sent(env, lambda statement: "pg_notify" in statement) as notifying:
        with transaction(env.factory) as session:
            notify_at_commit(session, "t_uow", "one")
            with pytest.raises(RuntimeError):
                _notify_in_a_refused_savepoint(session, "dropped")
            insert_rows(session, CaseEvent, _rows(env, case_id, "t.a"))
            notify_at_commit(session, "t_uow", "two")
        with transaction(env.factory) as session:
            notify_at_commit(session, "t_uow", "alone")
    heard = [n.payload for n in listener.notifies(timeout=5, stop_after=3)]
    listener.close()
    assert heard == ["one", "two", "alone"]
    assert len(notifying) == 2
    assert "INSERT INTO case_events" in notifying[0]
    assert notifying[1].startswith("SELECT pg_notify")
    assert _kinds(env, case_id) == ["t.a"]


def _notify_in_a_refused_savepoint(session: Session, payload: str) -> None:
    with savepoint(session):
        notify_at_commit(session, "t_uow", payload)
        raise RuntimeError("refused")


@pytest.mark.postgres_only
def test_the_locks_of_a_group_draw_the_ids_their_jobs_will_add_in_the_same_statement(env: Env) -> None:
    """A warning's key (`intake.service`) stands for a person, a case, a warning, a watch and
    three alerts: holding two such keys draws those ids with the locks, in one round trip."""
    keys = ("warning:t:1", "warning:t:2", "person:t")
    locking = ("pg_advisory_xact_lock", "nextval")
    sending = statements_sent(env, lambda s: any(word in s for word in locking))
    with sending as sent, transaction(env.factory) as session, env.factory() as other:
        hold_advisory_locks(session, *keys)
        persons, alerts = take_ids(session, Person, 2), take_ids(session, Notification, 6)
        taken = [other.scalar(_TRY_LOCK, {"k": advisory_key(key)}) for key in keys]
        other.rollback()
    assert taken == [False, False, False]  # held by the group's transaction
    assert len(sent) == 1
    assert persons is not None and len(set(persons)) == 2
    assert alerts is not None and len(set(alerts)) == 6


_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:k)")
