"""Recording and verifying the hash-chained audit trail.

Entries are queued during the transaction and chained in one go just before commit, so the
chain lock (PostgreSQL) is held only for the commit itself."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from quanzu.audit import repository
from quanzu.auth.actor import Actor
from quanzu.kit.clock import Clock
from quanzu.kit.db import before_commit, insert_rows
from quanzu.models.audit import AuditEntry

GENESIS = repository.GENESIS
_PENDING = "quanzu.audit.pending"


def record(
    session: Session,
    clock: Clock,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: object,
    detail: dict[str, Any] | None = None,
) -> None:
    pending: list[dict[str, Any]] = session.info.setdefault(_PENDING, [])
    pending.append(
        {
            "at": clock.now(),
            "actor": actor.label,
            "action": action,
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "detail": detail or {},
        }
    )
    before_commit(session, _seal_pending)
    repository.lock_chain_head_with_rows(session)


def _seal_pending(session: Session) -> None:
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, [])
    if not pending:
        return
    session.flush()  # ids referenced in details must exist before the chain grows
    seq, prev_hash = repository.locked_chain_head(session)
    rows = []
    for fields in pending:
        seq += 1
        row = {"seq": seq, "prev_hash": prev_hash, **fields}
        row["hash"] = prev_hash = chain_hash(**row)
        rows.append(row)
    insert_rows(session, AuditEntry, rows)


def entry_hash(entry: AuditEntry) -> str:
    return chain_hash(
        entry.seq,
        entry.at,
        entry.actor,
        entry.action,
        entry.subject_type,
        entry.subject_id,
        entry.detail,
        entry.prev_hash,
    )


def chain_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    detail: dict[str, Any],
    prev_hash: str,
) -> str:
    """An entry's hash: its canonical JSON, which includes the previous entry's hash."""
    canonical = json.dumps(
        {
            "seq": seq,
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "detail": detail,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainProblem:
    seq: int
    problem: str


def verify(session: Session, expected_head: tuple[int, str] | None = None) -> tuple[int, list[ChainProblem]]:
    """Walks the chain; returns (entries checked, problems). Any edit, deletion or insertion shows.
    Cutting off the newest entries shows only against a head exported earlier (`expected_head`)."""
    problems: list[ChainProblem] = []
    expected_seq, prev_hash, checked = 1, GENESIS, 0
    head_seen = expected_head is None
    for entry in repository.iter_chain(session):
        checked += 1
        if expected_head is not None and (entry.seq, entry.hash) == expected_head:
            head_seen = True
        if entry.seq != expected_seq:
            problems.append(ChainProblem(expected_seq, f"missing entries before seq {entry.seq}"))
        if entry.prev_hash != prev_hash:
            problems.append(ChainProblem(entry.seq, "link to the previous entry is broken"))
        if entry_hash(entry) != entry.hash:
            problems.append(ChainProblem(entry.seq, "content does not match its hash (edited)"))
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    if not head_seen and expected_head is not None:
        problems.append(
            ChainProblem(expected_head[0], f"exported head seq {expected_head[0]} is missing or differs")
        )
    from quanzu.audit import screening  # sealed into this chain; it imports this module

    problems += [ChainProblem(seq, problem) for seq, problem in screening.problems(session)]
    return checked, problems
