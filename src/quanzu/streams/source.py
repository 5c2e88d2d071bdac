"""What the stream consumer needs from a message broker: fetch a batch, acknowledge after commit,
ask for a later redelivery, and park a message it can never accept on a dead-letter subject.
NATS JetStream implements it (`jetstream.py`); a Kafka source would implement the same."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of one message. `key` names the message in the broker for as long as it is
    retained (JetStream: stream sequence), so a dead letter written twice is written once."""

    payload: bytes
    key: str
    attempt: int  # 1 on the first delivery, then counts redeliveries
    handle: object  # the broker's own message object, for ack / nak / term


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message can never be stored: the HTTP status the same body would get, and the
    API's field errors."""

    status: int
    errors: list[dict[str, str]]


class DeadLetterUnavailable(Exception):
    """The dead-letter subject could not take the message (no stream captures it, broker down)."""


class StreamSource(Protocol):
    async def fetch(self, batch: int, timeout_s: float) -> list[Delivery]:
        """Up to `batch` deliveries; an empty list after `timeout_s` without any."""
        ...

    async def ack(self, delivery: Delivery) -> None:
        """Done: never deliver again (called only after the transaction committed)."""
        ...

    async def retry_later(self, delivery: Delivery, delay_s: float) -> None:
        """Not done (a transient failure): deliver again after `delay_s`."""
        ...

    async def dead_letter(self, delivery: Delivery, rejection: Rejection) -> None:
        """Publish the original payload with the errors to the dead-letter subject (durably),
        then stop the original's redelivery. Raises DeadLetterUnavailable if it cannot."""
        ...

    async def flush(self) -> None:
        """Make sure the acknowledgements sent so far reached the broker."""
        ...
