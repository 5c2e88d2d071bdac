"""NATS JetStream as a StreamSource: a durable pull consumer (shared by every `quanzu ingest nats`
process bound to it, which split the messages between them), explicit acks, and a dead-letter
subject captured by a stream of its own. Stream and consumer are created if absent and left as
they are if present (an operator may have tuned them)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from quanzu.streams.source import DeadLetterUnavailable, Delivery, Rejection

log = logging.getLogger("quanzu.streams")


@dataclass(frozen=True, slots=True)
class JetStreamConfig:
    url: str = "nats://127.0.0.1:4222"
    stream: str = "QUANZU_WARNINGS"
    subject: str = "quanzu.warnings"
    durable: str = "quanzu-intake"
    dead_subject: str = "quanzu.warnings.dead"
    ack_wait_s: float = 60.0  # an unacknowledged delivery is given to another consumer after this

    @property
    def dead_stream(self) -> str:
        return f"{self.stream}_DEAD"


async def ensure_topology(js: JetStreamContext, config: JetStreamConfig) -> None:
    """The warnings stream, its dead-letter stream and the durable consumer; idempotent."""
    for name, subject in ((config.stream, config.subject), (config.dead_stream, config.dead_subject)):
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(StreamConfig(name=name, subjects=[subject]))
            log.info("created stream %s for %s", name, subject)
    try:
        await js.consumer_info(config.stream, config.durable)
    except NotFoundError:
        await js.add_consumer(
            config.stream,
            ConsumerConfig(
                durable_name=config.durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=config.ack_wait_s,
                max_deliver=-1,  # the consumer decides when a message is hopeless, not the broker
                filter_subject=config.subject,
            ),
        )
        log.info("created durable consumer %s on %s", config.durable, config.stream)


class JetStreamSource:
    def __init__(self, nc: Client, js: JetStreamContext, sub: JetStreamContext.PullSubscription, dead: str):
        self._nc = nc
        self._js = js
        self._sub = sub
        self._dead_subject = dead

    @classmethod
    async def connect(cls, config: JetStreamConfig) -> JetStreamSource:
        nc = await nats.connect(config.url, name="quanzu-ingest", max_reconnect_attempts=-1)
        js = nc.jetstream()
        await ensure_topology(js, config)
        sub = await js.pull_subscribe_bind(durable=config.durable, stream=config.stream)
        return cls(nc, js, sub, config.dead_subject)

    async def fetch(self, batch: int, timeout_s: float) -> list[Delivery]:
        try:
            msgs = await self._sub.fetch(batch, timeout=timeout_s)
        except (NatsTimeout, TimeoutError):  # nats-py raises either when nothing came in time
            return []
        return [
            Delivery(
                payload=m.data,
                key=f"{m.metadata.stream}:{m.metadata.sequence.stream}",
                attempt=m.metadata.num_delivered or 1,
                handle=m,
            )
            for m in msgs
        ]

    async def ack(self, delivery: Delivery) -> None:
        await _msg(delivery).ack()

    async def retry_later(self, delivery: Delivery, delay_s: float) -> None:
        await _msg(delivery).nak(delay=delay_s)

    async def dead_letter(self, delivery: Delivery, rejection: Rejection) -> None:
        msg = _msg(delivery)
        headers = {
            # JetStream drops a second publish with the same id (2 min window): a consumer killed
            # between this publish and the term below does not dead-letter the message twice.
            "Nats-Msg-Id": f"dead:{delivery.key}",
            "Quanzu-Status": str(rejection.status),
            "Quanzu-Errors": json.dumps(rejection.errors, ensure_ascii=True),
            "Quanzu-Subject": msg.subject,
            "Quanzu-Key": delivery.key,
        }
        try:
            await self._js.publish(self._dead_subject, delivery.payload, headers=headers)
        except NatsError as exc:
            raise DeadLetterUnavailable(f"{type(exc).__name__}: {exc}") from exc
        await msg.term()

    async def flush(self) -> None:
        await self._nc.flush()

    async def close(self) -> None:
        await self._nc.flush()
        await self._nc.close()


def _msg(delivery: Delivery) -> Msg:
    assert isinstance(delivery.handle, Msg)  # noqa: S101  (our own deliveries only)
    return delivery.handle
