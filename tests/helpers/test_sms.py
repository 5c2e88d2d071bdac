"""The SMS channel against the real gateway double on 127.0.0.1: what is sent, signed, and how
each failure is classified for the outbox's retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from quanzu.dispatch.channels import (
    ChannelEndpoint,
    ChannelKind,
    DeliveryResult,
    OutboundMessage,
    channel_for,
)
from tests.helpers.sms_gateway import SmsGatewayDouble

NOW_MS = 1_732_000_000_000
SECRET = "sms-secret"
MESSAGE = OutboundMessage(
    message_id="outbox-7",
    event="help.request",
    title="",
    text="【反诈预警协助】张先生可能正在遭遇电信网络诈骗。详情和反馈：http://q.example/h/abc",
    url=None,
    data={"case_id": 7},
    recipient="+8613800000001",
)


@pytest.fixture
def gateway() -> Iterator[SmsGatewayDouble]:
    double = SmsGatewayDouble(secret=SECRET)
    double.start()
    yield double
    double.stop()


def send(
    gateway: SmsGatewayDouble, message: OutboundMessage = MESSAGE, secret: str | None = SECRET
) -> DeliveryResult:
    endpoint = ChannelEndpoint(
        kind=ChannelKind.SMS, target=gateway.url, secret=secret, options={"sender": "吴江反诈"}
    )
    return channel_for(ChannelKind.SMS).send(endpoint, message, NOW_MS)


def test_a_text_reaches_the_gateway_signed(gateway: SmsGatewayDouble) -> None:
    result = send(gateway)
    assert result.ok, result
    assert [(m.id, m.to, m.text, m.sender) for m in gateway.messages] == [
        ("outbox-7", "+8613800000001", MESSAGE.text, "吴江反诈")
    ]
    assert gateway.messages[0].token == "abc"


def test_a_wrong_secret_is_refused_and_permanent(gateway: SmsGatewayDouble) -> None:
    result = send(gateway, secret="not-the-secret")
    assert (result.ok, result.retryable, result.status) == (
        False,
        False,
        "http 401",
    )
    assert gateway.messages == [] and gateway.rejected == ["bad signature"]


@pytest.mark.parametrize(
    ("status", "reply", "retryable", "expected"),
    [
        (503, {"code": 503}, True, "http 503"),
        (429, {"code": 429}, True, "http 429"),
        (200, {"code": 1001, "message": "blocked number"}, False, "http 200 refused"),
        (200, {"ok": False}, False, "http 200 refused"),
    ],
)
def test_gateway_failures_are_classified(
    gateway: SmsGatewayDouble, status: int, reply: dict[str, object], retryable: bool, expected: str
) -> None:
    gateway.status, gateway.reply = status, reply
    result = send(gateway)
    assert (result.ok, result.retryable, result.status) == (
        False,
        retryable,
        expected,
    )


def test_no_recipient_or_no_gateway(gateway: SmsGatewayDouble, closed_port: int) -> None:
    no_recipient = OutboundMessage("m", "help.request", "", "text", None, {})
    assert send(gateway, no_recipient).status == "bad payload"
    endpoint = ChannelEndpoint(kind=ChannelKind.SMS, target=f"http://127.0.0.1:{closed_port}/sms")
    down = channel_for(ChannelKind.SMS).send(endpoint, MESSAGE, NOW_MS)
    assert not down.ok and down.retryable and down.status.startswith("connect error")
