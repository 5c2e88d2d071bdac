"""A burst of intake requests from several threads, each outcome recorded per external id, so a
drill can say afterwards which warnings the clients were told were accepted."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Literal

import httpx

from tests.faults.cluster import Deployment, distinct_warning

# ok: 2xx (the client was told the warning is kept); refused: any other status; unsent: the
# connection could not be made (nothing reached the server); in_flight: the request may have
# reached the server and no answer came back (the server died, or the database under it).
Outcome = Literal["ok", "refused", "unsent", "in_flight"]


@dataclass
class IntakeLoad:
    deployment: Deployment
    prefix: str
    threads: int = 6
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    broken: Counter[str] = field(default_factory=Counter)  # transport errors by kind
    url: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: count[int] = field(default_factory=count)
    _workers: list[threading.Thread] = field(default_factory=list)
    _bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    answered_at: dict[str, float] = field(default_factory=dict)  # time.monotonic() of each 2xx
    stop_on_failure: bool = False  # a thread stops at its first failed request (the server died)

    def start(self, url: str) -> None:
        self.url = url
        for _ in range(self.threads):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=30)

    def count(self, outcome: Outcome) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes.values() if o == outcome)

    def ids(self, outcome: Outcome) -> list[str]:
        with self._lock:
            return [eid for eid, o in self.outcomes.items() if o == outcome]

    def accepted_after(self, moment: float) -> list[str]:
        """The ids answered 2xx after `moment` (time.monotonic()), earliest first."""
        with self._lock:
            later = [(t, eid) for eid, t in self.answered_at.items() if t > moment]
        return [eid for _t, eid in sorted(later)]

    def _run(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(20.0, connect=5.0), trust_env=False) as client:
            while not self._stop.is_set():
                with self._lock:
                    i = next(self._ids)
                external_id = f"{self.prefix}-{i}"
                outcome = self._post(client, external_id)
                with self._lock:
                    self.outcomes[external_id] = outcome
                    if outcome == "ok":
                        self.answered_at[external_id] = time.monotonic()
                if outcome != "ok" and self.stop_on_failure:
                    return
                if outcome == "unsent":
                    time.sleep(0.05)  # the server is down: do not spin while it comes back

    def body(self, external_id: str) -> dict[str, Any]:
        """The warning sent under this id (a retry must send the same one)."""
        with self._lock:
            if external_id not in self._bodies:
                i = int(external_id.rsplit("-", 1)[1])
                self._bodies[external_id] = distinct_warning(external_id, 10_000 + i)
            return self._bodies[external_id]

    def _post(self, client: httpx.Client, external_id: str) -> Outcome:
        body = self.body(external_id)
        try:
            r = client.post(f"{self.url}/api/v1/warnings", json=body, headers={"Authorization": self._auth()})
        except httpx.ConnectError:
            return "unsent"
        except httpx.HTTPError as exc:
            with self._lock:
                self.broken[type(exc).__name__] += 1
            return "in_flight"
        with self._lock:
            self.statuses[r.status_code] += 1
        return "ok" if 200 <= r.status_code < 300 else "refused"

    def _auth(self) -> str:
        return f"Bearer {self.deployment.tokens['feed']}"
