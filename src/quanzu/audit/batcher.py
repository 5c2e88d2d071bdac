"""Group commit for high-rate audit entries (every bank screening call is audited).

A caller submits an entry and waits for its future; one thread writes everything submitted
meanwhile in one transaction, so a thousand screening calls cost one commit, not a thousand, and
no caller is answered before its entry is durable. If the write fails, every waiting caller gets
the error: an unaudited screening answer is never given."""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from quanzu.audit import service as audit
from quanzu.auth.actor import Actor
from quanzu.kit.clock import Clock
from quanzu.kit.db import transaction

log = logging.getLogger(__name__)
MAX_BATCH = 2000


@dataclass(frozen=True, slots=True)
class _Entry:
    actor: Actor
    action: str
    subject_type: str
    subject_id: object
    detail: dict[str, Any]
    done: Future[None]


class AuditBatcher:
    def __init__(self, factory: sessionmaker[Session], clock: Clock) -> None:
        self._factory = factory
        self._clock = clock
        self._queue: queue.SimpleQueue[_Entry | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="quanzu-audit-batcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def submit(
        self, actor: Actor, action: str, subject_type: str, subject_id: object, detail: dict[str, Any]
    ) -> Future[None]:
        done: Future[None] = Future()
        if self._thread is None:
            done.set_exception(RuntimeError("the audit batcher is not running"))
            return done
        self._queue.put(_Entry(actor, action, subject_type, subject_id, detail, done))
        return done

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is None:
                    self._write(batch)
                    return
                batch.append(entry)
            self._write(batch)

    def _write(self, batch: list[_Entry]) -> None:
        try:
            with transaction(self._factory) as session:
                for e in batch:
                    audit.record(
                        session, self._clock, e.actor, e.action, e.subject_type, e.subject_id, e.detail
                    )
        except Exception as exc:
            log.exception("could not write %d audit entries", len(batch))
            for e in batch:
                e.done.set_exception(exc)
            return
        for e in batch:
            e.done.set_result(None)
