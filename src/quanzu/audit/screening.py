"""The screening log: every bank screening call, audited without a chain lock per call.

Banks screen every counter transaction, so the calls are written in batches (group commit, see
`batcher`) to an append-only table of their own, each row with the hash of its content. The
hash-chained audit trail then seals them: a `bank.screen.sealed` entry covers every record with
`after_id < id <= to_id` with the digest of their ids and hashes, so an edited, deleted or
inserted record shows in `audit verify` like a broken chain link. Records are sealed once they
are `SEAL_AFTER` old, so a batch still committing when the seal is cut cannot be skipped."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from quanzu.audit import repository
from quanzu.audit import service as audit
from quanzu.auth.actor import SYSTEM
from quanzu.kit.clock import Clock
from quanzu.kit.db import advisory_lock

SEAL_ACTION = "bank.screen.sealed"
SEAL_AFTER = timedelta(seconds=5)
SEAL_MAX_ROWS = 100_000


def record_hash(at: datetime, actor: str, hit: bool, watch_id: int | None, detail: dict[str, Any]) -> str:
    canonical = json.dumps(
        {
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor,
            "hit": hit,
            "watch": watch_id,
            "detail": detail,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def digest(rows: list[tuple[int, str]]) -> str:
    return hashlib.sha256("\n".join(f"{i}:{h}" for i, h in rows).encode()).hexdigest()


def seal(session: Session, clock: Clock) -> int:
    """Seals the records old enough that come after the last seal; returns how many."""
    advisory_lock(session, "screening-seal")  # two workers never seal the same range twice
    last = repository.last_screening_seal(session, SEAL_ACTION)
    after_id = int(last.detail["to_id"]) if last else 0
    rows = repository.screening_rows_to_seal(session, after_id, clock.now() - SEAL_AFTER, SEAL_MAX_ROWS)
    if not rows:
        return 0
    detail = {"after_id": after_id, "to_id": rows[-1][0], "count": len(rows), "digest": digest(rows)}
    audit.record(
        session, clock, SYSTEM, SEAL_ACTION, "screening_log", f"{after_id + 1}-{rows[-1][0]}", detail
    )
    return len(rows)


def problems(session: Session) -> list[tuple[int, str]]:
    """(seal seq, problem) for every sealed range whose records changed since it was sealed."""
    found: list[tuple[int, str]] = []
    previous_to = 0
    for entry in repository.screening_seals(session, SEAL_ACTION):
        after_id, to_id = int(entry.detail["after_id"]), int(entry.detail["to_id"])
        if after_id != previous_to:
            found.append((entry.seq, f"screening seals skip records {previous_to + 1}–{after_id}"))
        records = repository.screening_records(session, after_id, to_id)
        edited = [
            r.id for r in records if record_hash(r.at, r.actor, r.hit, r.watch_id, r.detail) != r.row_hash
        ]
        if edited:
            found.append((entry.seq, f"screening records changed: {edited[:10]}"))
        if digest([(r.id, r.row_hash) for r in records]) != entry.detail["digest"]:
            found.append(
                (entry.seq, f"screening records {after_id + 1}–{to_id} added or removed since sealed")
            )
        previous_to = to_id
    return found


class Record(NamedTuple):
    """A screening record on its way to the log (no ORM object on the hot path)."""

    at: datetime
    actor: str
    hit: bool
    watch_id: int | None
    detail: dict[str, Any]
    row_hash: str


def new_record(clock: Clock, actor: str, hit: bool, watch_id: int | None, detail: dict[str, Any]) -> Record:
    at = clock.now()
    return Record(
        at=at,
        actor=actor,
        hit=hit,
        watch_id=watch_id,
        detail=detail,
        row_hash=record_hash(at, actor, hit, watch_id, detail),
    )
