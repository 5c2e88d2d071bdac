"""The delivery worker: sends due outbox messages, woken at once after a commit queued some,
and otherwise polling for retries that came due (or rows other processes queued)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from quanzu.dispatch.service import deliver_due
from quanzu.kit.runtime import Runtime

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class DeliveryWorker:
    def __init__(
        self, factory: sessionmaker[Session], rt: Runtime, *, max_attempts: int, timeout_s: float
    ) -> None:
        self._factory = factory
        self._rt = rt
        self._max_attempts = max_attempts
        self._timeout_s = timeout_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def run_once(self) -> int:
        return deliver_due(
            self._factory, self._rt, max_attempts=self._max_attempts, timeout_s=self._timeout_s
        )

    def run_forever(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                sent = self.run_once()
            except Exception:
                log.exception("delivery round failed; retrying")
                sent = 0
            if sent == 0:
                self._wake.wait(POLL_SECONDS)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="quanzu-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
