"""The stream consumer: each message goes through the same `intake.service.receive` as
`POST /api/v1/warnings`, as the named feed client, in its own transaction, and is acknowledged only
after that transaction committed. A message that can never be stored (invalid JSON, a field error,
the same key with different content) is published to the dead-letter subject with its errors, then
acknowledged; nothing is dropped silently. A database failure asks for a redelivery later.

Crash safety comes from the order "commit, then ack" and from intake's idempotency on
(source, external_id): a consumer killed between the two gets the message again, and the replay
stores nothing new."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from quanzu.auth import repository as auth_repo
from quanzu.auth.actor import Actor
from quanzu.codes import Role
from quanzu.intake import service as intake
from quanzu.intake.schemas import WarningIn
from quanzu.kit.db import transaction
from quanzu.kit.errors import DomainError, FieldError
from quanzu.kit.runtime import Runtime
from quanzu.kit.validation import parse
from quanzu.streams.source import DeadLetterUnavailable, Delivery, Rejection, StreamSource

log = logging.getLogger("quanzu.streams")

# Redelivery delays after a failure that is not the message's fault (database down, deadlock…).
RETRY_DELAYS_S = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)


class FeedUnavailable(Exception):
    """The feed client named for this consumer is missing, disabled or not a feed: stop consuming
    and leave the messages in the stream (they are not the messages' fault)."""


@dataclass(frozen=True, slots=True)
class Stored:
    status: int  # as HTTP would answer: 201 new case, 200 replay or merge
    warning_id: int
    replay: bool


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str


Result = Stored | Rejection | Retry


@dataclass
class Tally:
    stored: int = 0
    replayed: int = 0
    dead_lettered: int = 0
    retried: int = 0
    by_status: dict[int, int] = field(default_factory=dict)

    def count(self, result: Result) -> None:
        if isinstance(result, Stored):
            self.replayed += result.replay
            self.stored += not result.replay
            self.by_status[result.status] = self.by_status.get(result.status, 0) + 1
        elif isinstance(result, Rejection):
            self.dead_lettered += 1
            self.by_status[result.status] = self.by_status.get(result.status, 0) + 1
        else:
            self.retried += 1

    def summary(self) -> str:
        return (
            f"{self.stored} stored, {self.replayed} replays, {self.dead_lettered} dead-lettered, "
            f"{self.retried} redeliveries asked"
        )


def feed_actor(session: Session, client_name: str) -> Actor:
    """The machine client the stream speaks for, as `authenticate` would resolve its token."""
    client = auth_repo.client_by_name(session, client_name)
    if client is None or not client.active or client.role != Role.FEED:
        raise FeedUnavailable(f"no active feed client named {client_name!r} (`quanzu client add`)")
    return Actor(kind="client", id=client.id, name=client.name, role=Role.FEED)


class WarningStore:
    """Turns one delivered payload into a stored warning, a rejection, or a request to retry."""

    def __init__(
        self, factory: sessionmaker[Session], rt: Runtime, client_name: str, *, max_attempts: int = 10
    ) -> None:
        self.factory = factory
        self.rt = rt
        self.client_name = client_name
        self.max_attempts = max_attempts  # an unexpected error this often: dead-letter it (HTTP 500)

    def check_feed(self) -> None:
        with transaction(self.factory) as session:
            feed_actor(session, self.client_name)

    def process(self, delivery: Delivery) -> Result:
        try:
            body = json.loads(delivery.payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return Rejection(422, [{"field": "body", "message": "消息体不是有效的 JSON"}])
        try:
            warning = parse(WarningIn, body)
            with transaction(self.factory) as session:
                outcome = intake.receive(session, self.rt, feed_actor(session, self.client_name), warning)
        except DomainError as exc:
            errors = getattr(exc, "errors", None) or [FieldError("", exc.message)]
            return Rejection(exc.status_code, [{"field": e.field, "message": e.message} for e in errors])
        except (OperationalError, InterfaceError) as exc:
            return Retry(f"database unavailable: {type(exc.orig).__name__}")  # never the message's fault
        except FeedUnavailable:
            raise
        except Exception as exc:  # a poison message must not crash-loop the feed: retry, then park it
            if delivery.attempt >= self.max_attempts:
                message = f"failed {delivery.attempt} times: {type(exc).__name__}: {exc}"[:500]
                return Rejection(500, [{"field": "", "message": message}])
            return Retry(f"{type(exc).__name__}: {exc}"[:300])
        return Stored(outcome.status, outcome.accepted.warning_id, replay=not outcome.created)


@dataclass(frozen=True, slots=True)
class ConsumeOptions:
    batch: int = 50
    fetch_timeout_s: float = 1.0
    idle_exit_s: float | None = None  # stop after this long without a message (drills, benchmarks)


async def consume(
    source: StreamSource, store: WarningStore, options: ConsumeOptions, stop: asyncio.Event
) -> Tally:
    """Fetch, store, acknowledge, until `stop` is set (a batch in hand is finished first)."""
    tally = Tally()
    await asyncio.to_thread(store.check_feed)
    last_message = time.monotonic()
    while not stop.is_set():
        deliveries = await source.fetch(options.batch, options.fetch_timeout_s)
        if not deliveries:
            if options.idle_exit_s is not None and time.monotonic() - last_message >= options.idle_exit_s:
                break
            continue
        last_message = time.monotonic()
        backoff = 0.0
        for delivery in deliveries:
            result = await asyncio.to_thread(store.process, delivery)
            backoff = max(backoff, await _settle(source, delivery, result))
            tally.count(result)
        await source.flush()
        if backoff:
            await _wait(stop, backoff)  # the database is struggling: do not fetch more meanwhile
    return tally


async def _settle(source: StreamSource, delivery: Delivery, result: Result) -> float:
    """Ack, dead-letter or nak one delivery; returns how long to pause before fetching again."""
    if isinstance(result, Stored):
        await source.ack(delivery)
        return 0.0
    if isinstance(result, Rejection):
        first = result.errors[0] if result.errors else {"field": "", "message": ""}
        log.warning(
            "dead-letter %s (%s): %s %s", delivery.key, result.status, first["field"], first["message"]
        )
        try:
            await source.dead_letter(delivery, result)
        except DeadLetterUnavailable as exc:  # keep the message rather than lose it
            log.error("dead-letter subject unavailable (%s); %s stays in the stream", exc, delivery.key)
            await source.retry_later(delivery, RETRY_DELAYS_S[-1])
            return RETRY_DELAYS_S[2]
        return 0.0
    delay = RETRY_DELAYS_S[min(delivery.attempt, len(RETRY_DELAYS_S)) - 1]
    log.warning("redeliver %s in %.0f s: %s", delivery.key, delay, result.reason)
    await source.retry_later(delivery, delay)
    return delay


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return
