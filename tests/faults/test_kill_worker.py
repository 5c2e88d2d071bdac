"""Drill: `kill -9` a worker while it is firing a timer, inside the timer's transaction. The
timer fires exactly once, after the restart: its effect (the `sla_breached` event on the case
timeline, the audit entry) is there once.

To catch the worker mid-transaction without sleeping, the test holds a row lock on the case's
SLA rows: the worker claims the due timer, its handler blocks on the lock, and PostgreSQL shows
that backend waiting (`pg_stat_activity.wait_event_type = 'Lock'`). Then the worker is killed,
the lock released, and a new worker started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.factories import bearer
from tests.faults.cluster import deployment, distinct_warning, fast_policy, shared_database, wait_for

pytestmark = pytest.mark.postgres_only
SONGLING = {"address": "江苏省苏州市吴江区松陵街道流虹路88号"}


def _one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def test_a_worker_killed_mid_timer_leaves_it_to_fire_once_after_restart(tmp_path: Path) -> None:
    with shared_database() as url, deployment(url, tmp_path, policy=fast_policy()) as district:
        with district.in_process() as app:
            posted = app.post(
                "/api/v1/warnings",
                json=distinct_warning("KW-1", 1, target=SONGLING),
                headers=bearer(district.tokens["feed"]),
            )
        assert posted.status_code == 201, posted.text
        case_id = posted.json()["case_id"]
        with psycopg.connect(url) as look, psycopg.connect(url) as holder:
            look.autocommit = True
            timer_id = _one(
                look, "SELECT id FROM timers WHERE kind = 'sla' AND subject_id = %s AND key = 'sign'", case_id
            )
            assert timer_id is not None
            # The test's transaction holds the SLA rows the handler is about to update.
            holder.execute("SELECT id FROM case_slas WHERE case_id = %s FOR UPDATE", (case_id,))
            first = district.worker("worker-1")
            wait_for(
                "the worker to block inside the timer's transaction",
                lambda: _one(
                    look,
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                ),
            )
            assert _one(look, "SELECT fired_at FROM timers WHERE id = %s", timer_id) is None
            first.kill9()
            holder.rollback()  # the orphaned backend runs on, finds its client gone, rolls back
            district.worker("worker-2")
            wait_for(
                "the timer to fire after the restart",
                lambda: _one(look, "SELECT fired_at FROM timers WHERE id = %s", timer_id),
            )
            breaches = _one(
                look, "SELECT count(*) FROM case_events WHERE case_id = %s AND kind = 'sla_breached'", case_id
            )
            audited = _one(
                look,
                "SELECT count(*) FROM audit_log WHERE action = 'sla.breached' AND subject_id = %s",
                str(case_id),
            )
            outcome = _one(look, "SELECT outcome FROM timers WHERE id = %s", timer_id)
        assert (breaches, audited, outcome) == (1, 1, "breached")
