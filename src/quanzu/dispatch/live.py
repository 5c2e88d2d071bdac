"""The live in-app channel: server-sent events per connected user, in this process.

Publishing happens from worker threads after commit; each subscriber's queue belongs to the
event loop that serves its connection, so we hand events over with call_soon_threadsafe."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

_QUEUE_LIMIT = 200  # a stalled phone must not grow memory without bound; it resyncs on reconnect


class LiveHub:
    def __init__(self) -> None:
        self._subscribers: dict[
            int, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]]
        ] = {}
        self._lock = threading.Lock()

    def subscribe(self, user_id: int) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=_QUEUE_LIMIT)
        with self._lock:
            self._subscribers.setdefault(user_id, set()).add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, user_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with self._lock:
            subs = self._subscribers.get(user_id, set())
            for entry in [e for e in subs if e[1] is queue]:
                subs.discard(entry)
            if not subs:
                self._subscribers.pop(user_id, None)

    def publish(self, user_ids: Iterable[int], event: dict[str, Any]) -> None:
        with self._lock:
            targets = [entry for uid in user_ids for entry in self._subscribers.get(uid, ())]
        for loop, queue in targets:
            loop.call_soon_threadsafe(_offer, queue, event)

    def connected(self, user_id: int) -> int:
        with self._lock:
            return len(self._subscribers.get(user_id, ()))


def _offer(queue: asyncio.Queue[dict[str, Any]], event: dict[str, Any]) -> None:
    if not queue.full():
        queue.put_nowait(event)
