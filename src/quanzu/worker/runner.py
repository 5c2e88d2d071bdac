"""The worker: fires due timers (SLA breaches, escalation rungs, shift handovers, the linking of
new warnings' fraudster contacts) and delivers due outbox messages. Woken at once after a commit
queued something; otherwise it sleeps until the next timer is due, polling at least every second
for rows other processes wrote. Under load its rounds are at least GATHER_SECONDS apart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session, sessionmaker

from quanzu.audit.screening import SEAL_MAX_ROWS, seal
from quanzu.banks.service import on_stop_ack_timer, on_watch_expiry
from quanzu.briefings.service import TIMER_KIND as BRIEFING_TIMER
from quanzu.briefings.service import ensure_scheduled, on_briefing_timer
from quanzu.dispatch.service import deliver_due
from quanzu.escalation.service import on_climb_timer, on_shift_end, on_sla_timer
from quanzu.followups.service import on_overdue_timer, on_remind_timer
from quanzu.intel.service import LINK_TIMER, link_batch, on_link_timer, prepare_links
from quanzu.kit.db import transaction
from quanzu.kit.runtime import Runtime
from quanzu.reports.tasks import refresh_rollups
from quanzu.review.service import NOTICE_TIMER, on_notice_timer
from quanzu.timers.service import FireBatch, Handler, Prepare, fire_due, next_due

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 5.0
# After a round that found work, the next starts this much later, whatever wakes the worker: under
# load every commit woke it, and each round paid its fixed cost (the claim, the linking's reads
# and locks, a commit with its audit entries) for the few timers of one or two warnings. An outbox
# message waits this much longer at most; a full batch (a backlog) goes on at once.
GATHER_SECONDS = 0.1
KPI_ROLLUP_EVERY_S = 300.0  # stale KPI rollup days are rebuilt at most this often
# The screening log is sealed in ranges of about this many seconds of calls. Sealing whatever
# had just come of age on every round made the worker spin under screening load: a seal entry
# in the audit chain, its lock and a scan of the recent records for every few dozen calls.
SEAL_EVERY_S = 5.0
TIMER_HANDLERS: Mapping[str, Handler] = {
    "sla": on_sla_timer,
    "escalation": on_climb_timer,
    "handover": on_shift_end,
    "watch_expiry": on_watch_expiry,
    "stop_payment_ack": on_stop_ack_timer,
    NOTICE_TIMER: on_notice_timer,
    "followup_remind": on_remind_timer,
    "followup_overdue": on_overdue_timer,
    BRIEFING_TIMER: on_briefing_timer,
    LINK_TIMER: on_link_timer,
}
# Kinds whose timers of one batch load and lock together (see `timers.service.Prepare`).
TIMER_BATCH_HOOKS: Mapping[str, Prepare] = {LINK_TIMER: prepare_links}
# Kinds whose timers of one batch fire together, set by set (see `timers.service.FireBatch`).
TIMER_BATCHES: Mapping[str, FireBatch] = {LINK_TIMER: link_batch}
TIMER_BATCH = 200  # timers claimed per round


class Worker:
    def __init__(
        self,
        factory: sessionmaker[Session],
        rt: Runtime,
        *,
        max_attempts: int,
        timeout_s: float,
        upkeep_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self._rt = rt
        self._max_attempts = max_attempts
        self._timeout_s = timeout_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rollups = _Upkeep(KPI_ROLLUP_EVERY_S, upkeep_clock)
        self._sealing = _Upkeep(SEAL_EVERY_S, upkeep_clock)

    def wake(self) -> None:
        self._wake.set()

    def fire_timers(self) -> int:
        return fire_due(
            self._factory,
            self._rt,
            TIMER_HANDLERS,
            limit=TIMER_BATCH,
            prepare=TIMER_BATCH_HOOKS,
            batches=TIMER_BATCHES,
        )

    def deliver(self) -> int:
        return deliver_due(
            self._factory, self._rt, max_attempts=self._max_attempts, timeout_s=self._timeout_s
        )

    def seal_screening(self) -> int:
        with transaction(self._factory) as session:
            return seal(session, self._rt.clock)

    def seal_screening_when_due(self) -> int:
        """The screening log's seal, at most every SEAL_EVERY_S. Counts as work (another round at
        once) only when a full range was sealed: a backlog is left."""
        if not self._sealing.due():
            return 0
        sealed = self.seal_screening()
        if sealed < SEAL_MAX_ROWS:
            return 0
        self._sealing.reset()
        return sealed

    def refresh_kpi_rollups(self) -> int:
        """Stale daily KPI rollups, at most every KPI_ROLLUP_EVERY_S."""
        return refresh_rollups(self._factory, self._rt) if self._rollups.due() else 0

    def run_once(self) -> int:
        """One round: every due timer, every due delivery, then the screening log's seal and
        the KPI rollups when due. Returns how much was done."""
        return (
            self.fire_timers() + self.deliver() + self.seal_screening_when_due() + self.refresh_kpi_rollups()
        )

    def run_forever(self) -> None:
        failures = 0
        try:
            self.plan_daily()
        except Exception:
            log.exception("could not plan the daily briefing; the next start will")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                busy = self.run_once()
                idle = self._idle_seconds() if busy == 0 else 0.0
                failures = 0
                if 0 < busy < TIMER_BATCH:
                    self._stop.wait(GATHER_SECONDS)
            except Exception:
                # The database may be restarting: keep the process, back off, try again (a
                # disconnect replaces the pool's connections; an idle one is pinged before use).
                failures += 1
                log.exception("worker round failed; retrying")
                idle = min(POLL_SECONDS * failures, MAX_BACKOFF_SECONDS)
            if idle > 0:
                self._wake.wait(idle)

    def _idle_seconds(self) -> float:
        due = next_due(self._factory)
        if due is None:
            return POLL_SECONDS
        return max(0.0, min(POLL_SECONDS, (due - self._rt.clock.now()).total_seconds()))

    def plan_daily(self) -> None:
        """Plans the recurring jobs (the daily briefing) unless they are already planned."""
        with transaction(self._factory) as session:
            ensure_scheduled(session, self._rt)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="quanzu-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class _Upkeep:
    """Upkeep run at most every `every_s` seconds of a monotonic clock (upkeep, not a business
    deadline: not the injected business clock); the first call is always due."""

    def __init__(self, every_s: float, clock: Callable[[], float]) -> None:
        self._every_s = every_s
        self._clock = clock
        self._at: float | None = None

    def due(self) -> bool:
        now = self._clock()
        if self._at is not None and now - self._at < self._every_s:
            return False
        self._at = now
        return True

    def reset(self) -> None:
        self._at = None
