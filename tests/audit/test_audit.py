"""The audit trail is hash-chained: `verify` finds any edited, deleted or inserted row."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from quanzu.audit.repository import chain_head, locked_chain_head
from quanzu.audit.service import record, verify
from quanzu.auth.actor import SYSTEM
from quanzu.kit.db import add_with_id, draw_ids, insert_rows, transaction
from quanzu.models.audit import AuditEntry
from quanzu.models.cases import Case, CaseEvent, CaseSla
from tests.conftest import Env
from tests.factories import bearer, seed, statements_sent, warning
from tests.faults.cluster import wait_for


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


@pytest.mark.postgres_only
def test_a_writer_waiting_for_the_chain_reads_the_head_the_previous_holder_committed(env: Env) -> None:
    """The chain's lock and its head come in one statement (revision 0020). The head must be read
    after the wait: read with the statement's own snapshot, it would miss the entry of the writer
    waited for, and the next entry would take that entry's place in the chain."""
    populate(env)
    with env.factory() as first:
        seq, digest = locked_chain_head(first)
        entry = {"at": env.clock.now(), "actor": "t", "action": "t.x", "subject_type": "t", "subject_id": "1"}
        first.execute(
            insert(AuditEntry).values(seq=seq + 1, prev_hash=digest, hash="f" * 64, detail={}, **entry)
        )
        with ThreadPoolExecutor(1) as pool:
            second = pool.submit(_locked_head_alone, env)
            _until_a_writer_waits_for_a_lock(env)
            first.commit()
            assert second.result(timeout=30) == (seq + 1, "f" * 64)


def _locked_head_alone(env: Env) -> tuple[int, str]:
    with env.factory() as session:
        head = locked_chain_head(session)
        session.rollback()
        return head


def _until_a_writer_waits_for_a_lock(env: Env) -> None:
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")

    def someone_waits() -> bool:
        with env.reader() as s:
            return bool(s.scalar(waiting))

    wait_for("the second writer to wait for the chain's lock", someone_waits)


def _case_id(env: Env) -> int:
    populate(env)
    with env.reader() as s:
        case_id = s.scalars(select(Case.id)).first()
    assert case_id is not None
    return case_id


def _event(env: Env, case_id: int) -> dict[str, object]:
    return {"case_id": case_id, "at": env.clock.now(), "kind": "t.x", "actor": "t", "data": {}}


@pytest.mark.postgres_only
def test_sealing_takes_the_lock_and_the_head_with_the_kept_rows_and_the_entries_in_one_more(env: Env) -> None:
    """Revision 0023: the kept-back rows, the chain's lock and its head in one statement."""
    case_id = _case_id(env)
    with statements_sent(env, lambda _statement: True) as sent, transaction(env.factory) as session:
        insert_rows(session, CaseEvent, [_event(env, case_id)])
        record(session, env.clock, SYSTEM, "t.sealed", "case", case_id)
    assert len(sent) == 2
    assert "INSERT INTO case_events" in sent[0] and "quanzu_audit_chain_head(%s, (SELECT count(*)" in sent[0]
    assert "INSERT INTO audit_log" in sent[1]
    assert check(env) == []


@pytest.mark.postgres_only
def test_an_update_flushed_before_the_kept_rows_leaves_the_head_with_them(env: Env) -> None:
    case_id = _case_id(env)
    with statements_sent(env, lambda _statement: True) as sent, transaction(env.factory) as session:
        _raise_urgency(session, case_id)
        insert_rows(session, CaseEvent, [_event(env, case_id)])
        record(session, env.clock, SYSTEM, "t.sealed", "case", case_id)
    writes = _writes_and_chain_reads(sent)
    assert len(writes) == 3
    assert writes[0].startswith("UPDATE cases")
    assert "INSERT INTO case_events" in writes[1] and "quanzu_audit_chain_head(%s, (SELECT" in writes[1]
    assert "INSERT INTO audit_log" in writes[2]
    assert check(env) == []


@pytest.mark.postgres_only
def test_with_an_object_left_to_flush_after_the_kept_rows_the_head_is_read_after_it(env: Env) -> None:
    """Objects added with drawn ids go in first, as rows, while an update waits for the seal's
    flush: the chain's lock is then taken after the update, in a statement of its own."""
    case_id = _case_id(env)
    with statements_sent(env, lambda _statement: True) as sent, transaction(env.factory) as session:
        _raise_urgency(session, case_id)
        draw_ids(session, {CaseSla: 1})
        add_with_id(session, CaseSla(case_id=case_id, kind="t.x", due_at=env.clock.now(), token="t"))
        record(session, env.clock, SYSTEM, "t.sealed", "case", case_id)
    writes = _writes_and_chain_reads(sent)
    assert len(writes) == 4
    assert "INSERT INTO case_slas" in writes[0] and "quanzu_audit_chain_head" not in writes[0]
    assert writes[1].startswith("UPDATE cases")
    assert "quanzu_audit_chain_head(%(lock_key)s)" in writes[2]
    assert "INSERT INTO audit_log" in writes[3]
    assert check(env) == []


def _writes_and_chain_reads(sent: list[str]) -> list[str]:
    return [
        statement for statement in sent if not statement.startswith("SELECT") or "chain_head" in statement
    ]


def _raise_urgency(session: Session, case_id: int) -> None:
    case = session.get(Case, case_id)
    assert case is not None
    case.urgency += 1


@pytest.mark.postgres_only
def test_the_kept_rows_go_in_before_the_chain_lock_is_taken(env: Env) -> None:
    """Locked first, a row that waits for another transaction would hold the chain's lock while
    that transaction queues for it at its own commit: a deadlock. Here the kept row waits on a
    uniqueness conflict, and the waiting transaction must not hold the chain's lock yet."""
    case_id = _case_id(env)
    sla = {"case_id": case_id, "kind": "t.conflict", "due_at": env.clock.now(), "token": "t"}
    with env.factory() as other:
        other.execute(insert(CaseSla).values(**sla))
        other.flush()
        with ThreadPoolExecutor(1) as pool:
            sealed = pool.submit(_seal_with_a_kept_row, env, sla, case_id)
            try:
                backend = _until_a_writer_waits_for_a_row(env)
                with env.reader() as s:
                    held = s.scalar(_ADVISORY_LOCKS_HELD, {"pid": backend})
            finally:
                other.rollback()  # the sealing transaction goes on, whatever was seen
            assert sealed.result(timeout=30) == backend
    assert held == 0
    assert check(env) == []


_ADVISORY_LOCKS_HELD = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = :pid"
)


def _seal_with_a_kept_row(env: Env, sla: dict[str, object], case_id: int) -> int:
    with transaction(env.factory) as session:
        backend: int = session.scalar(text("SELECT pg_backend_pid()"))
        insert_rows(session, CaseSla, [sla])
        record(session, env.clock, SYSTEM, "t.sealed", "case", case_id)
    return backend


def _until_a_writer_waits_for_a_row(env: Env) -> int:
    waiting = text("SELECT pid FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted")

    def waiter() -> int | None:
        with env.reader() as s:
            pid: int | None = s.scalar(waiting)
            return pid

    pid: int = wait_for("the sealing transaction to wait for the conflicting row", waiter)
    return pid
