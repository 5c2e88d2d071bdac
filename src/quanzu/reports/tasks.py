"""Keeping the daily KPI rollups (PostgreSQL): the worker calls `refresh_rollups` now and then;
it rebuilds the days of the last year that have no readable rollup, newest first, a bounded
number per call. Today and yesterday are never rolled up: they change all the time, the raw
tables answer them fast, and a change to them takes no lock on a rollup row."""

from __future__ import annotations

import time as wallclock
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from quanzu.kit.db import is_postgres, transaction
from quanzu.kit.runtime import Runtime
from quanzu.reports import repository
from quanzu.reports.schemas import LOCAL_TZ
from quanzu.reports.service import MAX_SPAN

RAW_DAYS = 2  # today and yesterday
DAYS_PER_CALL = 31
WAIT_FOR_OLDER_S = 10.0  # how long to wait for transactions older than the rollup rows


def refresh_rollups(factory: sessionmaker[Session], rt: Runtime, *, limit: int = DAYS_PER_CALL) -> int:
    """Rebuilds up to `limit` stale days; returns how many. A no-op on SQLite."""
    now = rt.clock.now()
    today = now.astimezone(LOCAL_TZ).date()
    with transaction(factory) as session:
        if not is_postgres(session):
            return 0
        first, last = today - timedelta(days=MAX_SPAN.days), today - timedelta(days=RAW_DAYS)
        days = repository.stale_days(session, first, last, now, limit)
        if days:
            repository.ensure_rollup_rows(session, days)
    if not days or not _older_transactions_done(factory):
        return 0
    with transaction(factory) as session:
        repository.refresh_days(session, days, now)
    return len(days)


def _older_transactions_done(factory: sessionmaker[Session]) -> bool:
    """A transaction that changed a day before its rollup row existed did not bump the row's
    version; wait until every writing transaction of this database that began before the rows
    were committed has ended, so the rebuild sees all of them (under READ COMMITTED, a statement
    that starts later sees the rows and bumps them). False if that takes too long (the days are
    tried again on a later call)."""
    with factory() as session:
        committed_at = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        session.rollback()
        deadline = wallclock.monotonic() + WAIT_FOR_OLDER_S
        while True:
            older = session.execute(_OLDER_WRITERS, {"before": committed_at}).scalar_one()
            session.rollback()
            if not older:
                return True
            if wallclock.monotonic() > deadline:
                return False
            wallclock.sleep(0.05)


_OLDER_WRITERS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL AND xact_start < :before"
)
