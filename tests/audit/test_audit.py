"""The audit trail is hash-chained: `verify` finds any edited, deleted or inserted row."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from quanzu.audit.repository import chain_head
from quanzu.audit.service import verify
from quanzu.kit.db import transaction
from quanzu.models.audit import AuditEntry
from tests.conftest import Env
from tests.factories import bearer, seed, warning


def populate(env: Env) -> None:
    district = seed(env)
    for i in range(3):
        env.client.post("/api/v1/warnings", json=warning(f"AU-{i}"), headers=bearer(district.feed_token))


@contextmanager
def tampering(env: Env) -> Iterator[Session]:
    """A transaction of someone with DDL rights, who switches the append-only guards off first."""
    with transaction(env.factory) as s:
        if env.is_postgres:
            s.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            s.execute(text("DROP TRIGGER audit_log_no_update"))
            s.execute(text("DROP TRIGGER audit_log_no_delete"))
        yield s
        if env.is_postgres:
            s.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))


def test_the_database_refuses_edits_and_deletions(env: Env) -> None:
    populate(env)
    for statement in (update(AuditEntry).values(actor="x"), delete(AuditEntry)):
        with pytest.raises(DBAPIError, match="append-only"), transaction(env.factory) as s:
            s.execute(statement)
    for sql in ("UPDATE case_events SET kind = 'x'", "DELETE FROM case_events"):
        with pytest.raises(DBAPIError, match="append-only"), transaction(env.factory) as s:
            s.execute(text(sql))


def check(env: Env) -> list[str]:
    with env.reader() as s:
        _, problems = verify(s)
    return [f"{p.seq}: {p.problem}" for p in problems]


def test_state_changes_are_recorded_and_the_chain_verifies(env: Env) -> None:
    populate(env)
    with env.reader() as s:
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
        checked, problems = verify(s)
    assert {"org.imported", "client.created", "token.created", "case.opened", "warning.received"} <= set(
        actions
    )
    assert actions.count("warning.received") == 3
    assert checked == len(actions) and problems == []


def test_an_edited_entry_is_detected(env: Env) -> None:
    populate(env)
    with tampering(env) as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 5).values(actor="user:0:nobody"))
    assert check(env) == ["5: content does not match its hash (edited)"]


def test_a_deleted_entry_is_detected(env: Env) -> None:
    populate(env)
    with tampering(env) as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 4))
    problems = check(env)
    assert "4: missing entries before seq 5" in problems
    assert "5: link to the previous entry is broken" in problems


def test_a_truncated_tail_is_detected_against_an_exported_head(env: Env) -> None:
    """A chain alone cannot show that its newest entries were cut off; the head (seq, hash)
    exported earlier (`quanzu audit head`) can."""
    populate(env)
    with env.reader() as s:
        head = chain_head(s)
    with tampering(env) as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == head[0]))
    assert check(env) == []
    with env.reader() as s:
        _, problems = verify(s, expected_head=head)
    assert [p.problem for p in problems] == [f"exported head seq {head[0]} is missing or differs"]


def test_a_rewritten_entry_with_a_recomputed_hash_still_breaks_the_next_link(env: Env) -> None:
    from quanzu.audit.service import entry_hash

    populate(env)
    with tampering(env) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.seq == 3)).one()
        entry.detail = {"forged": True}
        entry.hash = entry_hash(entry)
    assert check(env) == ["4: link to the previous entry is broken"]
