"""The user's notifications and the live event stream (server-sent events)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from quanzu.auth.actor import Actor
from quanzu.dispatch import service
from quanzu.kit.errors import Forbidden
from quanzu.web.edge import actor, state, unit_of_work

router = APIRouter(prefix="/api/v1", tags=["notifications"])
HEARTBEAT_SECONDS = 15.0  # keeps proxies and phone radios from dropping an idle stream


class NotificationOut(BaseModel):
    id: int
    kind: str
    case_id: int | None
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


@router.get("/notifications", response_model=list[NotificationOut])
def notifications(request: Request) -> list[NotificationOut]:
    with unit_of_work(request, read_only=True) as (session, _rt):
        rows = service.inbox(session, actor(session, request))
    return [NotificationOut.model_validate(n, from_attributes=True) for n in rows]


def _user_actor(request: Request) -> Actor:
    with unit_of_work(request, read_only=True) as (session, _rt):
        who = actor(session, request)
    if who.kind != "user" or who.id is None:
        raise Forbidden("the live stream is for people, not machine clients")
    return who


@router.get("/events", response_class=StreamingResponse)
async def events(request: Request) -> StreamingResponse:
    """Server-sent events: every notification for the signed-in user, the moment it commits."""
    who = await run_in_threadpool(_user_actor, request)
    hub = state(request).hub
    assert who.id is not None  # noqa: S101  (checked in _user_actor)
    user_id = who.id
    queue = hub.subscribe(user_id)

    async def stream() -> AsyncIterator[str]:
        try:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                data = json.dumps(event, ensure_ascii=False)
                yield f"id: {event.get('notification_id', '')}\nevent: {event['type']}\ndata: {data}\n\n"
        finally:
            hub.unsubscribe(user_id, queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
