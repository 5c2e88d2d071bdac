"""A JetStream topology of its own per test (unique stream, subjects and durable), on the NATS
server `make test` starts on 127.0.0.1:4222, deleted afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

from quanzu.streams.jetstream import JetStreamConfig

NATS_URL = "nats://127.0.0.1:4222"


@dataclass(frozen=True)
class DeadLetter:
    payload: bytes
    status: int
    errors: list[dict[str, str]]
    key: str


async def _publish(config: JetStreamConfig, payloads: list[bytes]) -> None:
    nc = await nats.connect(config.url)
    js = nc.jetstream()
    try:
        await js.stream_info(config.stream)
    except NotFoundError:
        await js.add_stream(name=config.stream, subjects=[config.subject])
    for payload in payloads:
        await js.publish(config.subject, payload)
    await nc.close()


def publish(config: JetStreamConfig, bodies: list[Any]) -> None:
    """Publishes each body (bytes as they are, anything else as JSON) and waits for JetStream's ack."""
    payloads = [b if isinstance(b, bytes) else json.dumps(b, ensure_ascii=False).encode() for b in bodies]
    asyncio.run(_publish(config, payloads))


async def _dead_letters(config: JetStreamConfig) -> list[DeadLetter]:
    nc = await nats.connect(config.url)
    js = nc.jetstream()
    info = await js.stream_info(config.dead_stream)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ():
        raw = await js.get_msg(config.dead_stream, seq)
        headers = raw.headers or {}
        found.append(
            DeadLetter(
                payload=raw.data or b"",
                status=int(headers["Quanzu-Status"]),
                errors=json.loads(headers["Quanzu-Errors"]),
                key=headers["Quanzu-Key"],
            )
        )
    await nc.close()
    return found


def dead_letters(config: JetStreamConfig) -> list[DeadLetter]:
    return asyncio.run(_dead_letters(config))


async def _consumer(config: JetStreamConfig) -> ConsumerInfo:
    nc = await nats.connect(config.url)
    info: ConsumerInfo = await nc.jetstream().consumer_info(config.stream, config.durable)
    await nc.close()
    return info


def consumer_state(config: JetStreamConfig) -> ConsumerInfo:
    return asyncio.run(_consumer(config))


async def _delete(config: JetStreamConfig) -> None:
    nc = await nats.connect(config.url)
    js = nc.jetstream()
    for name in (config.stream, config.dead_stream):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(name)
    await nc.close()


@pytest.fixture
def jetstream() -> Iterator[JetStreamConfig]:
    tag = uuid.uuid4().hex[:10]
    config = JetStreamConfig(
        url=NATS_URL,
        stream=f"QZT_{tag}",
        subject=f"qzt.{tag}.warnings",
        durable=f"qzt-{tag}",
        dead_subject=f"qzt.{tag}.dead",
        ack_wait_s=2.0,
    )
    yield config
    asyncio.run(_delete(config))
