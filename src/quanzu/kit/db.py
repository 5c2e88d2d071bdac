"""Database plumbing: engines for SQLite and PostgreSQL, the declarative base, aware datetimes, and
the unit-of-work hooks (work to run just before commit, side effects to release only after it)."""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

import orjson
import psycopg
from psycopg.types.json import Json, Jsonb
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Float,
    MetaData,
    Numeric,
    Row,
    String,
    Table,
    and_,
    any_,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    literal,
    text,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import (
    DeclarativeBase,
    ORMExecuteState,
    QueryableAttribute,
    Session,
    make_transient_to_detached,
    sessionmaker,
)
from sqlalchemy.sql import visitors
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.expression import ClauseElement, TableClause, TextClause
from sqlalchemy.types import TypeDecorator, TypeEngine

# Constraint names are fixed from the first revision: SQLite batch migrations need them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always hands back aware datetimes (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused; use the injected clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def one_of(session: Session, column: QueryableAttribute[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN (values)`. On PostgreSQL `column = ANY(array)`: one parameter whatever the count,
    so the statement's text is the same for every count and stays in SQLAlchemy's and psycopg's
    caches, where an IN list is rendered and parsed anew for each length (in the worker, whose
    lists change length every round, that was a tenth of its time)."""
    listed = list(values)
    if is_postgres(session):
        return column == any_(literal(listed, ARRAY(column.type)))
    return column.in_(listed)


def among(column: QueryableAttribute[Any], name: str, *, postgres: bool) -> ColumnElement[bool]:
    """`column` among the list bound to `name` when the statement runs: for a statement built
    once per dialect and reused (`functools.cache`), where `one_of` makes a new statement per
    call, which SQLAlchemy then builds, and keys for its cache, again (a hot path's lookup cost
    twice as much that way). PostgreSQL: `column = ANY(array)`; SQLite: an expanding IN."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def pairs_among(
    session: Session,
    columns: tuple[QueryableAttribute[Any], QueryableAttribute[Any]],
    pairs: Iterable[tuple[Any, Any]],
) -> ColumnElement[bool]:
    """Rows whose two columns may hold one of `pairs`: the first among the pairs' firsts and the
    second among their seconds, each `one_of`. A superset (the caller keeps the pairs it asked
    for), but one statement text for any count, where a list of pairs is a new one per length."""
    listed = list(pairs)
    first, second = columns
    return and_(
        one_of(session, first, {a for a, _b in listed}), one_of(session, second, {b for _a, b in listed})
    )


def libpq_url(engine: Engine) -> str:
    """The engine's PostgreSQL database as a plain libpq URL, for a dedicated psycopg connection
    (LISTEN, the audit batcher) outside the pool."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


# A pooled connection idle this long is checked before use (`_ping_when_idle`).
PING_AFTER_IDLE_S = 10.0
_IDLE_SINCE = "quanzu.idle_since"


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    ping_after_idle_s: float = PING_AFTER_IDLE_S,
    generic_plans: bool = False,
) -> Engine:
    """`generic_plans` (PostgreSQL): the connections' prepared statements are planned once
    (`plan_cache_mode = force_generic_plan`), for a process that runs a few hot statements only
    (the intake writer). By default PostgreSQL keeps planning a statement whose generic plan it
    estimates dearer than its custom ones, as it does for a lookup by an array of keys (it
    guesses ten): planning intake's person lookup took 0.3 ms, running it 0.07."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    connect_args = {"options": "-c plan_cache_mode=force_generic_plan"} if generic_plans else {}
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, connect_args=connect_args)
    _ping_when_idle(engine, ping_after_idle_s)
    return engine


def _ping_when_idle(engine: Engine, after_s: float) -> None:
    """SQLAlchemy's `pool_pre_ping`, for connections that sat idle in the pool: a restarted
    database or a firewall's idle timeout leaves those dead, and a dead one is replaced before
    use. A connection back in the pool since less than `after_s` is not pinged: under load
    every transaction would pay a round trip for it (a group commit's batch of two warnings sends
    about ten). If such a connection is dead all the same (the database restarted just now),
    its first statement fails as a disconnect, and SQLAlchemy then replaces every connection of
    the pool; the group commit writes a failed batch's warnings again one by one."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < after_s:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("a pooled connection was found dead") from exc  # the pool replaces it


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below); pysqlite's implicit transactions would defer the lock.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives power loss
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Writers take the lock up front: no deferred-lock upgrade failures under concurrency,
        # and check-then-insert sequences (idempotency, merging) are serialised. Readers
        # (see `read_only`) keep WAL's concurrent snapshots.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


READ_ONLY = "quanzu_read_only"


def make_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions for writing (the default) or for reading only: on SQLite a reader does not take
    the write lock; on PostgreSQL the two are the same."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)


# --- rows written without the unit of work ------------------------------------------------------


_DEFERRED = "quanzu.deferred_rows"  # a list: a rolled-back savepoint's rows go with it


def insert_rows(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows that nothing in the transaction needs back as objects or ids (timeline events,
    timers, audit entries …), written later and together: all of a transaction's rows for one
    table go in one statement, just before commit or before the first statement that reads or
    changes that table, whichever comes first. A group commit's batch of warnings thus writes
    its timeline events in one statement, not one per warning; and a reader in the transaction
    never misses a row. (`insert(Model)` would take the ORM's bulk path, about a quarter of a
    millisecond more per statement.)"""
    if rows:
        session.info.setdefault(_DEFERRED, []).append((_table(model), list(rows)))


def write_deferred(
    session: Session,
    notifications: Sequence[tuple[str, str]] = (),
    *,
    attach: bool = True,
    read: _Read | None = None,
) -> None:
    """Writes the objects added with drawn ids (`add_with_id`) and the rows `insert_rows` has
    kept back, tables and rows in the order they were first asked for: on PostgreSQL in one
    statement, unless objects added the usual way are pending, which may refer to the former
    and come before the latter (then: the objects, a flush, the rows). `notifications`
    (`notify_at_commit`'s channel and payload pairs) go with the last statement. The objects
    then join the session (`_attach`), unless `attach` is False: at commit nothing can change
    them any more, and joining them cost a third as much as writing them. `read`
    (`read_after_kept_rows`) goes with the last statement when nothing is left to flush after
    it."""
    objects: list[Base] = session.info.pop(_UNWRITTEN, [])
    pending: list[tuple[Table, list[Mapping[str, Any]]]] = session.info.pop(_DEFERRED, [])
    if objects and not session.new:
        _insert_kept_rows(session, [*_rows_of(objects), *pending], notifications, _if_last(session, read))
        if attach:
            _attach(session, objects)
        return
    if objects:
        _insert_kept_rows(session, _rows_of(objects))
        if attach:
            _attach(session, objects)  # before the flush: pending objects may refer to them
    if pending:
        _flush_what_rows_refer_to(session)
    _insert_kept_rows(session, pending, notifications, _if_last(session, read))


def _if_last(session: Session, read: _Read | None) -> _Read | None:
    """`read`, if no object is left to flush: a lock it takes is then held over no more writes."""
    return read if read is not None and not (session.new or session.dirty or session.deleted) else None


def _flush_what_rows_refer_to(session: Session) -> None:
    """Before Core rows go in: the pending objects they may refer to, those the session's
    autoflush would write."""
    if session.autoflush:
        session.flush()


def _insert_kept_rows(
    session: Session,
    pending: list[tuple[Table, list[Mapping[str, Any]]]],
    notifications: Sequence[tuple[str, str]] = (),
    read: _Read | None = None,
) -> None:
    if not (pending or notifications):
        return
    groups: dict[tuple[Table, tuple[str, ...]], list[Mapping[str, Any]]] = {}
    for table, rows in pending:
        for row in rows:
            groups.setdefault((table, tuple(row)), []).append(row)
    connection = session.connection()  # Core, below the session's events and autoflush
    if not all(unnestable(connection, table, columns) for table, columns in groups):
        for (table, _columns), rows in groups.items():
            connection.execute(insert(table), rows)
        groups = {}
    read_row = insert_unnested(connection, groups, notifications, read)
    if read_row is not None:
        session.info[_READ_ROW] = [read_row]


def insert_unnested(
    connection: Connection,
    groups: Mapping[tuple[Table, tuple[str, ...]], Sequence[Mapping[str, Any]]],
    notifications: Sequence[tuple[str, str]] = (),
    read: _Read | None = None,
) -> Row[Any] | None:
    """PostgreSQL: every table's rows in one statement, each table's rows bound as one JSON array
    and unnested (`WITH w0 AS (INSERT … SELECT … FROM jsonb_array_elements(…)), … INSERT …`,
    the last table's insert the statement, the others its CTEs). A transaction's
    timeline, timers, clocks, assignees, alerts and audit entries thus cost one round trip and one
    statement's overhead on both sides, where a statement per table cost each of them. Rows keep
    their order (ids follow it); foreign keys are checked at the end of the statement, so a row
    may refer to one inserted beside it. With `notifications` the statement is their
    `SELECT pg_notify(…), …` (in order: the select list is evaluated left to right), the inserts
    all its CTEs, which run whether or not the select reads them; NOTIFY is delivered at commit
    anyway, so the commit's last round trip before COMMIT carries both. With `read`
    (`read_after_kept_rows`, not with notifications) the statement is that read, the inserts its
    CTEs, and the read's row is returned."""
    tables = [table for table, _columns in groups]
    if len(set(tables)) < len(tables):
        # The order of a statement's inserts is not defined: a table whose rows come in two
        # column sets gets a statement per set, in order, so its ids follow the order asked for.
        *firsts, (last_key, last_rows) = groups.items()
        for key, rows in firsts:
            insert_unnested(connection, {key: rows})
        return insert_unnested(connection, {last_key: last_rows}, notifications, read)
    inserts: list[str] = []
    params: list[Any] = []
    for (table, columns), rows in groups.items():
        statement, binds = _unnest_plan(connection.dialect, table, columns)
        inserts.append(statement)
        params.append(_json_rows(rows, binds))
    if read is not None:
        if notifications:
            raise ValueError("a read cannot share a statement with notifications")
        inserts = [f"{statement} RETURNING 1" for statement in inserts]
        inserts.append(read.sql.replace("{written}", _written(len(inserts))))
        params.extend(read.params)
    if notifications:
        inserts.append("SELECT " + ", ".join("pg_notify(%s, %s)" for _ in notifications))
        params.extend(part for pair in notifications for part in pair)
    if not inserts:
        return None
    *others, last = inserts
    ctes = ", ".join(f"w{i} AS ({s})" for i, s in enumerate(others))
    result = connection.exec_driver_sql(f"WITH {ctes} {last}" if ctes else last, tuple(params))
    return result.one() if read is not None else None


def _written(ctes: int) -> str:
    """The count of rows the statement's first `ctes` CTEs inserted: reading it runs them."""
    if not ctes:
        return "0"
    scans = " UNION ALL ".join(f"SELECT FROM w{i}" for i in range(ctes))
    return f"(SELECT count(*) FROM ({scans}) AS written)"  # noqa: S608  (our own CTE names)


def _json_rows(rows: Sequence[Mapping[str, Any]], binds: _Binds) -> str:
    """The rows as one JSON array of arrays, each value as SQLAlchemy binds it for an INSERT:
    one `orjson.dumps` in C, where psycopg dumped typed arrays element by element in Python
    (two thirds of the statement's cost on the client). orjson writes datetimes itself, where
    `json.dumps` called back into Python for each: 220 against 1,010 µs for 300 timeline rows."""
    values = [[bind(row[n]) if bind else row[n] for n, bind in binds] for row in rows]
    return orjson.dumps(values, default=_as_json).decode()


def _number_as_json(value: float | Decimal | None) -> float | Decimal | str | None:
    """JSON has no NaN or infinities (orjson would write null); PostgreSQL reads them from text."""
    return value if value is None or math.isfinite(value) else str(value)


_JSON_KEYS = orjson.OPT_NON_STR_KEYS  # as `json.dumps`: {1: …} → {"1": …}


def _as_json(value: object) -> object:
    """What orjson cannot write itself, as text the column's type reads back exactly."""
    if isinstance(value, psycopg.Binary):  # a LargeBinary column's value
        value = value.obj
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Json | Jsonb):  # a JSON column's value: a dozen a warning, in C
        # (A NaN inside is written null, where `json.dumps` wrote NaN, which PostgreSQL refuses.)
        if value.dumps is not None:
            return value.dumps(value.obj)
        return orjson.dumps(value.obj, option=_JSON_KEYS).decode()
    raise TypeError(f"no JSON form for a {type(value).__name__}")


@functools.lru_cache(maxsize=256)
def _unnest_plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[str, _Binds]:
    """`INSERT INTO t (a, b) SELECT r->>0, CAST(r->>1 AS type_b) FROM jsonb_array_elements(%s) AS r`
    for these columns, and each column's bind processor (once per table and column set)."""
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    values = ", ".join(_json_value(dialect, table.c[name].type, i) for i, name in enumerate(columns))
    statement = (
        f"INSERT INTO {quote(table.name)} ({names})"  # noqa: S608 (our schema)
        f" SELECT {values} FROM jsonb_array_elements(CAST(%s AS jsonb)) AS r"
    )
    binds = [(name, _json_bind(dialect, table.c[name].type)) for name in columns]
    return statement, binds


def _json_bind(dialect: Dialect, column_type: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    bind = column_type.dialect_impl(dialect).bind_processor(dialect)
    if isinstance(column_type, Float | Numeric):
        return _number_as_json if bind is None else lambda value: _number_as_json(bind(value))
    return bind


def _json_value(dialect: Dialect, column_type: TypeEngine[Any], i: int) -> str:
    """Element i of a row as the column's type. Text is assigned as it is, so a value too long for
    its column fails as an INSERT's would (an explicit cast to VARCHAR(n) would cut it short)."""
    if isinstance(column_type, String):
        return f"r->>{i}"
    return f"CAST(r->>{i} AS {column_type.compile(dialect=dialect)})"


def update_by_id(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
    """Changes rows by id (`{"id": …, column: value, …}`) as the ORM's bulk UPDATE by primary key
    does, objects in the session left as they are. On PostgreSQL one statement per set of columns,
    the rows bound as one JSON array, where the ORM's executemany is a statement per row for the
    database (the worker marks every timer it fires)."""
    if not rows:
        return
    if not is_postgres(session):
        session.execute(update(model), list(rows))
        return
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    connection = session.connection()
    for columns, group in groups.items():
        statement, binds = _update_plan(connection.dialect, _table(model), columns)
        connection.exec_driver_sql(statement, (_json_rows(group, binds),))


@functools.lru_cache(maxsize=64)
def _update_plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[str, _Binds]:
    """`UPDATE t SET a = v.a FROM (SELECT CAST(r->>0 AS INTEGER) AS id, … FROM jsonb_array_elements(%s)
    AS r) AS v WHERE t.id = v.id` for these columns (one of them `id`)."""
    quote = dialect.identifier_preparer.quote
    values = ", ".join(
        f"{_json_value(dialect, table.c[name].type, i)} AS {quote(name)}" for i, name in enumerate(columns)
    )
    changes = ", ".join(f"{quote(name)} = v.{quote(name)}" for name in columns if name != "id")
    statement = (
        f"UPDATE {quote(table.name)} AS t SET {changes}"  # noqa: S608 (our schema)
        f" FROM (SELECT {values} FROM jsonb_array_elements(CAST(%s AS jsonb)) AS r) AS v WHERE t.id = v.id"
    )
    return statement, [(name, _json_bind(dialect, table.c[name].type)) for name in columns]


@event.listens_for(Session, "before_flush")
def _write_deferred_before_objects_of_their_tables(session: Session, _context: Any, _objects: Any) -> None:
    """The objects a flush writes may refer to those added with drawn ids: those go in first. An
    object added to a table with rows kept back goes in after them, as it was asked for after
    them (a case's timeline stays in order)."""
    objects: list[Base] = session.info.pop(_UNWRITTEN, [])
    if objects:
        _insert_kept_rows(session, _rows_of(objects))
        _attach(session, objects)
    pending = session.info.get(_DEFERRED)
    if pending:
        tables = {table.name for table, _rows in pending}
        if any(getattr(obj, "__tablename__", None) in tables for obj in session.new):
            _insert_kept_rows(session, session.info.pop(_DEFERRED))


@event.listens_for(Session, "do_orm_execute")
def _write_deferred_before_touching_them(state: ORMExecuteState) -> None:
    """A statement that may read or change a table finds in it what the transaction has added:
    the rows kept back and the objects added with drawn ids, and, where autoflush is off (intake
    turns it off for speed), the objects added the usual way (a reopened case's new SLA clock,
    which the replanning right after reads back)."""
    session = state.session
    kept = {table.name for table, _rows in session.info.get(_DEFERRED, ())}
    kept |= {obj.__tablename__ for obj in session.info.get(_UNWRITTEN, ())}
    pending = set() if session.autoflush else {getattr(obj, "__tablename__", "") for obj in session.new}
    if not (kept or pending):
        return
    touched = _tables_of(state.statement)
    if kept and (touched is None or touched & kept):
        write_deferred(session)
    if pending and (touched is None or touched & pending):
        session.flush()


def _tables_of(statement: Executable) -> set[str] | None:
    """The tables a statement may read or change (plain SQL text: None, any)."""
    if isinstance(statement, TextClause) or not isinstance(statement, ClauseElement):
        return None
    return {e.name for e in visitors.iterate(statement) if isinstance(e, TableClause)}


def insert_returning_ids(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """A Core insert at once, returning the new rows' ids in the order of `rows` (after any rows
    of the table kept back before). On PostgreSQL, from DRAW_MIN_ROWS rows, the ids are drawn
    from the table's sequence first and the rows go in as one JSON array (`insert_unnested`): a
    link batch's hundreds of alerts cost the INSERT … RETURNING path about four times the CPU."""
    if not rows:
        return []
    if session.info.get(_UNWRITTEN):
        write_deferred(session)  # objects added with drawn ids, which the rows may refer to
    _flush_what_rows_refer_to(session)
    table = _table(model)
    if any(kept is table for kept, _rows in session.info.get(_DEFERRED, [])):
        write_deferred(session)  # rows of this table asked for earlier go in (and get ids) first
    connection = session.connection()
    columns = tuple(rows[0])
    if (
        len(rows) >= DRAW_MIN_ROWS
        and unnestable(connection, table, columns)
        and all(tuple(row) == columns for row in rows)
    ):
        ids = list(
            connection.execute(_NEXT_IDS, {"seq": _sequence(connection, table), "n": len(rows)}).scalars()
        )
        with_ids = [{"id": i, **row} for i, row in zip(ids, rows, strict=True)]
        insert_unnested(connection, {(table, ("id", *columns)): with_ids})
        return ids
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(connection.execute(stmt, rows).scalars())  # Core: no ORM bulk path, no hooks


# Drawing the ids first is a statement more than INSERT … RETURNING: measured (with COPY then),
# it costs the client less from about eight rows up.
DRAW_MIN_ROWS = 8

# nextval is called once per row in the order generate_series makes them: increasing ids, in order.
_NEXT_IDS = text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)")
_SEQUENCES: dict[str, str] = {}


def _sequence(connection: Connection, table: Table) -> str:
    if table.name not in _SEQUENCES:
        seq = connection.execute(
            text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
        ).scalar_one()
        _SEQUENCES[table.name] = seq
    return _SEQUENCES[table.name]


# --- ids drawn ahead (PostgreSQL) ---------------------------------------------------------------

_DRAWN = "quanzu.drawn_ids"  # table → ids drawn from its sequence and not used yet
_UNWRITTEN = "quanzu.unwritten"  # objects added with drawn ids, not written yet (a savepoint's go with it)
_ATTACHED = "quanzu.attached"  # those written since, in the session (a savepoint's are expunged with it)
_TOP_UP = 16  # ids drawn at least, when a transaction's run out
# `:counts[i]` ids from each sequence `:seqs[i]`, as (sequence, id) rows; {locked} joins the locks.
_DRAWING = (
    "SELECT s.seq, nextval(CAST(s.seq AS regclass)) FROM {locked}unnest(CAST(:seqs AS text[]),"
    " CAST(:counts AS integer[])) AS s(seq, n), generate_series(1, s.n)"
)
_DRAW = text(_DRAWING.format(locked=""))
M = TypeVar("M", bound=Base)


def draw_ids(session: Session, wanted: Mapping[type[Base], int]) -> None:
    """PostgreSQL: draws ids from the tables' sequences for the rows a transaction is about to
    add, every table's in one round trip. Its objects then go in together at its next flush
    (`add_with_id`), and its Core rows with the rows kept back (`take_ids`), where each would
    otherwise be flushed or inserted at once for its id: a group commit's warnings write their
    persons, cases and warnings in one statement per table, not one per warning. SQLite: nothing
    (no sequences; its one writer at a time gains nothing from it)."""
    if is_postgres(session):
        _draw(session, _DRAW, {}, wanted)


def _draw(
    session: Session, statement: TextClause, params: dict[str, Any], wanted: Mapping[type[Base], int]
) -> dict[str, list[int]]:
    """Runs `statement`, which draws `:counts` ids from each of the sequences `:seqs`, and keeps
    the ids for `take_ids`; returns its other rows' ids, by their first column's label."""
    counts = {_table(model): n for model, n in wanted.items() if n > 0}
    if not counts:
        return {}
    connection = session.connection()
    sequences = {_sequence(connection, table): table for table in counts}
    params = {**params, "seqs": list(sequences), "counts": list(counts.values())}
    drawn: dict[Table, list[int]] = session.info.setdefault(_DRAWN, {})
    others: dict[str, list[int]] = {}
    for label, new_id in sorted(connection.execute(statement, params), key=lambda row: row[1]):
        table = sequences.get(label)
        if table is None:
            others.setdefault(label, []).append(new_id)
        else:
            drawn.setdefault(table, []).append(new_id)
    return others


_IDS_PER_KEY: dict[str, Mapping[type[Base], int]] = {}
_FINDERS: dict[str, str] = {}  # key prefix → the SQL function finding what its keys guard
_FOUND = "quanzu.found_with_locks"  # prefix → (the keys looked up, the ids found); a dict: savepoints keep it


def draw_ids_with_locks(prefix: str, per_key: Mapping[type[Base], int], *, find: str | None = None) -> None:
    """Ids that `hold_advisory_locks` draws for every key it takes that starts with `prefix`, in
    the locks' statement (`draw_ids` would be a round trip of its own): a key held for a group
    commit's job says what the job will add (intake: a warning key, a warning, its person, case,
    watch and alerts).

    `find`: a PL/pgSQL function the same statement calls after the locks, with the count of
    locks taken and those keys (`prefix` removed), which returns the ids of the stored rows they
    guard (intake: the warnings already received under a batch's idempotency keys), for
    `found_with_locks`: their lookup then costs no round trip of its own. A function, not a
    subquery: a statement reads the snapshot it took when it started, before it waited for its
    locks, and would miss what the holder it waited for committed; a VOLATILE function's
    statements each take theirs when they run, after the wait."""
    _IDS_PER_KEY[prefix] = per_key
    if find is not None:
        if not find.isidentifier():  # it goes into the statement's text
            raise ValueError(f"not a function name: {find!r}")
        _FINDERS[prefix] = find


def found_with_locks(session: Session, prefix: str, keys: Iterable[str]) -> list[int] | None:
    """The ids of the stored rows that `prefix`'s finder (`draw_ids_with_locks`) found for those
    of `keys` that start with `prefix` when this transaction took their locks; None where it
    looked up not all of them (SQLite, keys held later): the caller looks them up itself."""
    found: dict[str, tuple[frozenset[str], list[int]]] = session.info.get(_FOUND, {})
    if prefix not in found:
        return None
    looked_up, ids = found[prefix]
    return ids if all(key in looked_up for key in keys if key.startswith(prefix)) else None


def _ids_for(keys: Iterable[str]) -> dict[type[Base], int]:
    wanted: dict[type[Base], int] = {}
    for key in keys:
        for prefix, per_key in _IDS_PER_KEY.items():
            if key.startswith(prefix):
                for model, n in per_key.items():
                    wanted[model] = wanted.get(model, 0) + n
    return wanted


def take_ids(session: Session, model: type[Base], n: int) -> list[int] | None:
    """`n` ids drawn for `model`'s table in this transaction (drawing more if they ran out), or
    None if it drew none for that table: the caller then gets its ids from an insert at once."""
    pool: list[int] | None = session.info.get(_DRAWN, {}).get(_table(model))
    if pool is None:
        return None
    if len(pool) < n:
        draw_ids(session, {model: max(n - len(pool), _TOP_UP)})
    taken, pool[:] = pool[:n], pool[n:]
    return taken


def add_with_id(session: Session, obj: Base) -> None:
    """Adds a new object whose id the caller needs now. With a drawn id, the object is written
    with the rows kept back (`write_deferred`: before a statement that reads its table, before a
    flush, at the latest before commit), as a row, without the unit of work's pass over it, and
    joins the session then, as if loaded: later changes to it are flushed as usual. Without
    drawn ids, it is flushed at once. `get` finds it before it is written."""
    ids = take_ids(session, type(obj), 1)
    if ids is None:
        session.add(obj)
        session.flush()
        return
    cast(Any, obj).id = ids[0]
    session.info.setdefault(_UNWRITTEN, []).append(obj)


def get(session: Session, model: type[M], ident: int) -> M | None:
    """`session.get`, which also finds an object added with a drawn id and not written yet."""
    unwritten: list[Any] = session.info.get(_UNWRITTEN, [])
    found: M | None = next((o for o in unwritten if o.id == ident and type(o) is model), None)
    return found if found is not None else session.get(model, ident)


def _rows_of(objects: list[Base]) -> list[tuple[Table, list[Mapping[str, Any]]]]:
    """The objects' rows, each column as the object has it, else its scalar default, which the
    object then takes too (as a flush would give it). One entry per object, in their order."""
    rows: list[tuple[Table, list[Mapping[str, Any]]]] = []
    for obj in objects:
        state = inspect(obj).dict
        row: dict[str, Any] = {}
        for key, column, default in _columns_of(type(obj)):
            if key not in state:
                setattr(obj, key, default)
            row[column] = state[key]
        rows.append((_table(type(obj)), [row]))
    return rows


@functools.lru_cache(maxsize=64)
def _columns_of(model: type[Base]) -> list[tuple[str, str, Any]]:
    """(attribute, column, scalar default or None) of a model's table. A model whose columns
    have other defaults (callables, SQL expressions) cannot be written as plain rows."""
    mapper = inspect(model)
    columns = []
    for column in _table(model).c:
        default = column.default
        if default is not None and not getattr(default, "is_scalar", False):
            raise TypeError(f"{model.__name__}.{column.name}: only scalar defaults are written as rows")
        key = mapper.get_property_by_column(column).key
        columns.append((key, column.name, cast(Any, default).arg if default is not None else None))
    return columns


def _attach(session: Session, objects: list[Base]) -> None:
    """Written objects join the session as persistent, with nothing to flush and nothing expired.
    A savepoint rolled back afterwards takes them out again (`savepoint`)."""
    for obj in objects:
        make_transient_to_detached(obj)
        session.add(obj)
    session.info.setdefault(_ATTACHED, []).extend(objects)


def unnestable(connection: Connection, table: Table, columns: Sequence[str]) -> bool:
    """Whether rows with these columns can go in as a JSON array (`insert_unnested`): on
    PostgreSQL, where no column left out has a default that SQLAlchemy, not the database, would
    fill in."""
    if connection.dialect.name != "postgresql":
        return False
    given = set(columns)
    return not any(c.default is not None for c in table.c if c.name not in given)


_Binds = list[tuple[str, Callable[[Any], Any] | None]]


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# --- unit-of-work hooks -------------------------------------------------------------------------

_BEFORE = "quanzu.before_commit"
_AFTER = "quanzu.after_commit"
_RELEASED = "quanzu.released"
_NOTIFY = "quanzu.notify"  # a list: dropped with the transaction (or savepoint) that rolls back


_READ = "quanzu.read_after_kept_rows"  # lists: dropped with the transaction (or savepoint) that
_READ_ROW = "quanzu.row_read_after_kept_rows"  # rolls back


@dataclass(frozen=True, slots=True)
class _Read:
    sql: str
    params: tuple[Any, ...]


def read_after_kept_rows(session: Session, sql: str, *params: Any) -> None:
    """PostgreSQL: have `sql`, a one-row SELECT (`%s` placeholders for `params`), go at commit in
    the statement that writes the rows kept back before the before-commit hooks, after its
    inserts; a hook takes its row with `row_read_after_kept_rows` instead of a round trip of its
    own (the audit seal: the chain's lock and head). `{written}` in `sql` stands for the count of
    rows the statement inserted: a function's argument computed from it is evaluated after the
    rows are in, so a lock the function takes is not held while they are written. The read goes
    only where no object is left to flush after those rows, else the hook reads for itself; one
    read a transaction, the first asked for."""
    if not session.info.get(_READ) and is_postgres(session):
        session.info[_READ] = [_Read(sql, params)]


def row_read_after_kept_rows(session: Session) -> Row[Any] | None:
    """The row of the read `read_after_kept_rows` asked for, if it went with the kept rows."""
    rows: list[Row[Any]] = session.info.pop(_READ_ROW, [])
    return rows[0] if rows else None


def before_commit(session: Session, fn: Callable[[Session], None]) -> None:
    """Run `fn` inside the transaction, just before it commits (e.g. sealing the audit chain)."""
    hooks: list[Callable[[Session], None]] = session.info.setdefault(_BEFORE, [])
    if fn not in hooks:
        hooks.append(fn)


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Release a side effect only once the data it talks about is durable; dropped on rollback.
    The same callable queued again runs once: these are wake-ups and invalidations, and a group
    commit's warnings would otherwise wake the worker once each."""
    hooks: list[Callable[[], None]] = session.info.setdefault(_AFTER, [])
    if fn not in hooks:
        hooks.append(fn)


def notify_at_commit(session: Session, channel: str, payload: str) -> None:
    """A PostgreSQL NOTIFY that other processes hear when (and only if) the transaction commits.
    A transaction's notifications go in one statement just before it commits, after the other
    before-commit hooks, in the order they were asked for, with the last rows kept back (one
    round trip). SQLite: nothing (one process)."""
    if is_postgres(session):
        session.info.setdefault(_NOTIFY, []).append((channel, payload))


@event.listens_for(Session, "before_commit")
def _run_before_commit(session: Session) -> None:
    # SQLAlchemy also calls this when a savepoint is released. The hooks wait for the real
    # commit: the audit chain is sealed (and its lock taken) once per transaction, not once per
    # savepoint, and what a savepoint queued still vanishes if an outer level rolls back.
    if session.in_nested_transaction():
        return
    # The rows kept back go in before the hooks: sealing the audit chain takes the chain's lock,
    # held until the commit, and every writer of every process queues for it — so the bulk of
    # the transaction's writes must not happen under it.
    reads: list[_Read] = session.info.pop(_READ, [])
    if session.info.get(_BEFORE):
        # the hooks read, they do not change objects
        write_deferred(session, attach=False, read=reads[0] if reads else None)
        for fn in session.info.pop(_BEFORE):
            fn(session)
        session.info.pop(_READ_ROW, None)
    # The rows (after hooks: what they added, the audit chain's) and the notifications at once.
    write_deferred(session, session.info.pop(_NOTIFY, []), attach=False)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the real commit is still to come
        return
    session.info.pop(_HELD, None)  # the commit released them
    session.info.pop(_BATCH, None)
    session.info.pop(_DRAWN, None)
    session.info.pop(_FOUND, None)
    session.info.pop(_UNWRITTEN, None)
    session.info.pop(_ATTACHED, None)
    hooks = session.info.pop(_AFTER, [])
    later: _Released | None = session.info.get(_RELEASED)
    if later is not None:
        later.hooks.extend(hooks)
        return
    for fn in hooks:
        fn()


class _Released:
    """The after-commit hooks of a `transaction()`, run once its session has given its connection
    back. SQLAlchemy calls after_commit while the connection is still checked out: a hook that
    opens a session of its own (the screening index reading the new watch entries) would hold
    one connection while waiting for another, and with every pooled connection held that way
    the process deadlocks (seen at 100 warnings/s on SQLite). Not a list: a rollback does not
    touch it (`_drop_on_rollback`)."""

    def __init__(self) -> None:
        self.hooks: list[Callable[[], None]] = []


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous: Any) -> None:
    # Only the outermost rollback drops everything; a savepoint's share is dropped by `savepoint`.
    if previous.parent is None:
        session.info.pop(_HELD, None)
        session.info.pop(_DRAWN, None)
        session.info.pop(_FOUND, None)
        for key in [k for k, v in session.info.items() if isinstance(v, list)]:
            del session.info[key]


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A nested transaction whose queued side effects (after-commit hooks, audit entries: every
    list the unit of work keeps in `session.info`) vanish with it when it rolls back."""
    write_deferred(session)  # the rows kept back so far belong to the enclosing transaction
    marks = {key: len(value) for key, value in session.info.items() if isinstance(value, list)}
    try:
        with session.begin_nested():
            yield
    except BaseException:
        for obj in session.info.get(_ATTACHED, [])[marks.get(_ATTACHED, 0) :]:
            if obj in session:  # its row went with the savepoint
                session.expunge(obj)
        for key in [k for k, v in session.info.items() if isinstance(v, list)]:
            if key in marks:
                del session.info[key][marks[key] :]
            else:
                del session.info[key]
        raise


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """The edge's transaction: commit on success, roll back on any error; the side effects
    released by the commit (`after_commit`) run once the session is closed."""
    session = factory()
    released = session.info[_RELEASED] = _Released()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    for fn in released.hooks:
        fn()


def advisory_key(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


_HELD = "quanzu.held_locks"  # a set, not a list: a savepoint's rollback leaves it alone


def advisory_lock(session: Session, *keys: str) -> None:
    """Serialise work on the same logical keys (an idempotency key, a person) across processes.

    PostgreSQL: transaction-scoped advisory locks, taken in sorted order so two writers never
    deadlock; keys the transaction already holds (`hold_advisory_locks`) cost nothing. SQLite:
    BEGIN IMMEDIATE already serialises every writer."""
    if not is_postgres(session):
        return
    held: set[str] = session.info.get(_HELD, set())
    _lock(session, sorted(set(keys) - held))


def hold_advisory_locks(session: Session, *keys: str) -> None:
    """Takes every key a group of jobs will ask for, at once and sorted, at the top of the
    transaction (never inside a savepoint, whose rollback would release them): two such groups
    cannot deadlock, and the jobs' own `advisory_lock` calls find the keys held. SQLite's
    BEGIN IMMEDIATE holds everything already; the keys are recorded all the same (`held_keys`)."""
    wanted = set(keys)
    if is_postgres(session):
        ids = _ids_for(wanted)
        if ids:  # the ids the keys' jobs will need, and what their keys guard, in the same round trip
            _lock_draw_and_find(session, sorted(wanted), ids)
        else:
            _lock(session, sorted(wanted))
    session.info.setdefault(_HELD, set()).update(wanted)


def _lock_draw_and_find(session: Session, sorted_keys: list[str], ids: Mapping[type[Base], int]) -> None:
    finding = {p: keys for p in _FINDERS if (keys := [k for k in sorted_keys if k.startswith(p)])}
    params: dict[str, Any] = {"keys": _lock_ids(sorted_keys)}
    for n, (prefix, keys) in enumerate(finding.items()):
        params[f"find_{n}"] = f"found:{prefix}"
        params[f"keys_{n}"] = [key.removeprefix(prefix) for key in keys]
    found = _draw(session, _lock_draw_and_find_statement(tuple(_FINDERS[p] for p in finding)), params, ids)
    looked_up: dict[str, tuple[frozenset[str], list[int]]] = session.info.setdefault(_FOUND, {})
    for prefix, keys in finding.items():
        earlier, earlier_ids = looked_up.get(prefix, (frozenset(), []))
        looked_up[prefix] = (earlier | set(keys), [*earlier_ids, *found.get(f"found:{prefix}", [])])


@functools.cache
def _lock_draw_and_find_statement(finders: tuple[str, ...]) -> TextClause:
    """The locks, the ids drawn (`_DRAWING`), then each finder's ids labelled `:find_N`: called
    after the locks, as each call takes the locks' count."""
    calls = (f"{function}(locked.n, CAST(:keys_{n} AS text[]))" for n, function in enumerate(finders))
    # The function names were checked when registered (`draw_ids_with_locks`).
    finding = "".join(
        f" UNION ALL SELECT CAST(:find_{n} AS text), f FROM locked, {call} AS f"  # noqa: S608
        for n, call in enumerate(calls)
    )
    return text(_LOCKS_FIRST + _DRAWING.format(locked="locked, ") + finding)


def held_keys(session: Session) -> frozenset[str]:
    """The keys this transaction holds through `hold_advisory_locks`. Nobody else can change
    what they guard until it ends, so a group commit's jobs may look up everything their keys
    guard at once (intake: the batch's warnings and persons) and trust it (`batch_notes`)."""
    return frozenset(session.info.get(_HELD, ()))


_BATCH = "quanzu.batch_notes"  # a list: a job rolled back to its savepoint takes its notes along


def batch_notes(session: Session) -> list[Any]:
    """What a group commit's jobs note down about the data their held keys guard, for the
    transaction only: gone at commit and rollback, and what a job rolled back to its savepoint
    noted goes with it (`savepoint`)."""
    notes: list[Any] = session.info.setdefault(_BATCH, [])
    return notes


# One round trip, and one statement text whatever the count (SQLAlchemy compiles it once and
# psycopg prepares it once, where a select list of N calls was a new statement per N). The
# function scan reads the array in its order, so the locks are taken in the order given.
_LOCK_ALL = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")
# The same, then ids drawn as `_DRAW` does: the locks in a CTE evaluated once, before any row.
_LOCKS_FIRST = (
    "WITH locked AS MATERIALIZED (SELECT count(pg_advisory_xact_lock(k)) AS n"
    " FROM unnest(CAST(:keys AS bigint[])) AS k) "
)


def _lock(session: Session, sorted_keys: list[str]) -> None:
    if not sorted_keys:
        return
    # On the connection: plain SQL through the session would write the rows kept back first.
    session.connection().execute(_LOCK_ALL, {"keys": _lock_ids(sorted_keys)})


def _lock_ids(sorted_keys: list[str]) -> list[int]:
    return [advisory_key(k) for k in sorted_keys]
