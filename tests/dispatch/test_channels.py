"""Outbound channels against real receivers on 127.0.0.1 (HTTP and SMTP).

Nothing here reaches the network beyond loopback, and no assertion depends on
wall-clock timing: the "slow receiver" blocks on a threading.Event that the
fixture releases at teardown.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from quanzu.dispatch.channels import (
    ChannelEndpoint,
    ChannelKind,
    DeliveryResult,
    OutboundMessage,
    channel_for,
    verify_webhook_signature,
)
from tests.receivers import HttpReceiver

# Full-width punctuation written as escapes: real Chinese titles use it, and
# escapes keep ruff's ambiguous-character rules (RUF001) quiet under any config.
COLON, LPAREN, RPAREN = "\uff1a", "\uff08", "\uff09"
NOW_MS = 1_732_000_000_000
SECRET = "whsec-test-松陵"
MESSAGE = OutboundMessage(
    message_id="outbox-42",
    event="case.dispatched",
    title=f"新预警{COLON}松陵派出所 高风险 刷单返利",
    text=f"受害人{COLON}张**{LPAREN}138****0000{RPAREN}\n预警来源{COLON}反诈中心",
    url="https://quanzu.example/cases/42",
    data={"case_id": 42, "risk": "high", "station": "松陵派出所"},
)


def _send(
    kind: ChannelKind, target: str, secret: str | None = None, timeout_s: float = 5.0
) -> DeliveryResult:
    endpoint = ChannelEndpoint(kind=kind, target=target, secret=secret)
    return channel_for(kind, timeout_s=timeout_s).send(endpoint, MESSAGE, NOW_MS)


# --------------------------------------------------------------------------
# Generic webhook


def test_webhook_posts_signed_json(receiver: HttpReceiver) -> None:
    receiver.reply = b"accepted"

    result = _send(ChannelKind.WEBHOOK, f"{receiver.url}/hooks/quanzu", SECRET)

    assert result == DeliveryResult(ok=True, retryable=False, status="http 200", detail="accepted")
    [request] = receiver.requests
    assert request.path == "/hooks/quanzu"
    assert request.json() == {
        "id": "outbox-42",
        "event": "case.dispatched",
        "title": MESSAGE.title,
        "text": MESSAGE.text,
        "url": MESSAGE.url,
        "data": MESSAGE.data,
        "sent_at_ms": NOW_MS,
    }
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["x-quanzu-event"] == "case.dispatched"
    assert request.headers["x-quanzu-delivery"] == "outbox-42"
    assert request.headers["x-quanzu-timestamp"] == str(NOW_MS)
    expected = hmac.new(SECRET.encode(), f"{NOW_MS}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-quanzu-signature"] == f"sha256={expected}"


def test_webhook_signature_verification(receiver: HttpReceiver) -> None:
    _send(ChannelKind.WEBHOOK, receiver.url, SECRET)
    [request] = receiver.requests
    timestamp = request.headers["x-quanzu-timestamp"]
    signature = request.headers["x-quanzu-signature"]

    assert verify_webhook_signature(SECRET, timestamp, request.body, signature, NOW_MS + 1_000)
    assert not verify_webhook_signature("wrong-secret", timestamp, request.body, signature, NOW_MS)
    assert not verify_webhook_signature(SECRET, timestamp, request.body + b" ", signature, NOW_MS)
    assert not verify_webhook_signature(SECRET, timestamp, request.body, signature, NOW_MS + 300_001)
    assert not verify_webhook_signature(SECRET, timestamp, request.body, None, NOW_MS)
    assert not verify_webhook_signature(SECRET, "not-a-number", request.body, signature, NOW_MS)
    # The timestamp is signed: pairing the signature with a fresh timestamp fails.
    assert not verify_webhook_signature(SECRET, str(NOW_MS + 60_000), request.body, signature, NOW_MS)


def test_webhook_without_secret_is_unsigned(receiver: HttpReceiver) -> None:
    result = _send(ChannelKind.WEBHOOK, receiver.url)

    assert result.ok
    assert "x-quanzu-signature" not in receiver.requests[0].headers


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (408, True), (429, True), (400, False), (404, False), (302, False)],
)
def test_webhook_http_errors(receiver: HttpReceiver, status: int, retryable: bool) -> None:
    receiver.status = status
    receiver.reply = b'{"error": "nope"}'

    result = _send(ChannelKind.WEBHOOK, receiver.url, SECRET)

    assert not result.ok
    assert result.retryable is retryable
    assert result.status == f"http {status}"
    assert result.detail == '{"error": "nope"}'


def test_webhook_detail_is_truncated(receiver: HttpReceiver) -> None:
    receiver.status = 502
    receiver.reply = b"x" * 5_000

    result = _send(ChannelKind.WEBHOOK, receiver.url)

    assert len(result.detail) == 500


@pytest.mark.parametrize("kind", [ChannelKind.WEBHOOK, ChannelKind.WECOM, ChannelKind.DINGTALK])
def test_connection_refused_is_retryable(closed_port: int, kind: ChannelKind) -> None:
    result = _send(kind, f"http://127.0.0.1:{closed_port}/hook", SECRET)

    assert not result.ok
    assert result.retryable
    assert result.status.startswith("connect error")


def test_timeout_is_retryable(receiver: HttpReceiver) -> None:
    receiver.hold = True  # handler blocks until teardown releases it

    result = _send(ChannelKind.WEBHOOK, receiver.url, timeout_s=0.2)

    assert result.status == "timeout"
    assert not result.ok
    assert result.retryable


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/hook", "not a url", ""])
def test_bad_target_is_permanent(target: str) -> None:
    result = _send(ChannelKind.WEBHOOK, target)

    assert result == DeliveryResult(
        ok=False, retryable=False, status="bad config", detail="target must be an http(s) URL"
    )


def test_unserialisable_payload_is_permanent(receiver: HttpReceiver) -> None:
    message = OutboundMessage("m1", "case.dispatched", "t", "x", None, {"when": object()})
    endpoint = ChannelEndpoint(kind=ChannelKind.WEBHOOK, target=receiver.url)

    result = channel_for(ChannelKind.WEBHOOK).send(endpoint, message, NOW_MS)

    assert not result.ok
    assert not result.retryable
    assert result.status == "bad payload"
    assert receiver.requests == []


# --------------------------------------------------------------------------
# WeCom robot


def test_wecom_markdown_shape(receiver: HttpReceiver) -> None:
    result = _send(ChannelKind.WECOM, f"{receiver.url}/cgi-bin/webhook/send?key=abc")

    assert result.ok
    assert result.status == "http 200"
    [request] = receiver.requests
    assert request.path == "/cgi-bin/webhook/send?key=abc"
    payload = request.json()
    assert payload["msgtype"] == "markdown"
    content = payload["markdown"]["content"]
    assert content.startswith(f"**{MESSAGE.title}**\n")
    assert MESSAGE.text in content
    assert f"({MESSAGE.url})" in content


def test_wecom_long_content_is_truncated_to_limit(receiver: HttpReceiver) -> None:
    message = OutboundMessage("m1", "case.dispatched", "标题", "诈" * 5_000, None, {})
    endpoint = ChannelEndpoint(kind=ChannelKind.WECOM, target=receiver.url)

    assert channel_for(ChannelKind.WECOM).send(endpoint, message, NOW_MS).ok

    content = receiver.requests[0].json()["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096


@pytest.mark.parametrize(
    ("errcode", "retryable"),
    [(45009, True), (-1, True), (93000, False), (40008, False)],
)
def test_wecom_errcode_is_failure(receiver: HttpReceiver, errcode: int, retryable: bool) -> None:
    receiver.reply = json.dumps({"errcode": errcode, "errmsg": "error"}).encode()

    result = _send(ChannelKind.WECOM, receiver.url)

    assert not result.ok
    assert result.retryable is retryable
    assert result.status == f"http 200 errcode {errcode}"


def test_robot_reply_without_errcode_is_retryable_failure(receiver: HttpReceiver) -> None:
    receiver.reply = b"<html>gateway</html>"

    result = _send(ChannelKind.WECOM, receiver.url)

    assert not result.ok
    assert result.retryable


def test_wecom_http_400_is_permanent(receiver: HttpReceiver) -> None:
    receiver.status = 400

    result = _send(ChannelKind.WECOM, receiver.url)

    assert (result.ok, result.retryable, result.status) == (False, False, "http 400")


# --------------------------------------------------------------------------
# DingTalk robot


def test_dingtalk_signed_markdown(receiver: HttpReceiver) -> None:
    secret = "SEC0123456789abcdef"

    result = _send(ChannelKind.DINGTALK, f"{receiver.url}/robot/send?access_token=tok", secret)

    assert result.ok
    [request] = receiver.requests
    parts = urlsplit(request.path)
    assert parts.path == "/robot/send"
    query = parse_qs(parts.query, strict_parsing=True)
    # Recompute DingTalk's documented 加签 independently of the implementation.
    digest = hmac.new(secret.encode(), f"{NOW_MS}\n{secret}".encode(), hashlib.sha256).digest()
    assert query == {
        "access_token": ["tok"],
        "timestamp": [str(NOW_MS)],
        "sign": [base64.b64encode(digest).decode()],
    }
    payload = request.json()
    assert payload["msgtype"] == "markdown"
    assert payload["markdown"]["title"] == MESSAGE.title
    text = payload["markdown"]["text"]
    assert MESSAGE.title in text
    assert f"受害人{COLON}张**{LPAREN}138****0000{RPAREN}" in text
    assert f"({MESSAGE.url})" in text


def test_dingtalk_without_secret_leaves_url_alone(receiver: HttpReceiver) -> None:
    assert _send(ChannelKind.DINGTALK, f"{receiver.url}/robot/send?access_token=tok").ok

    assert receiver.requests[0].path == "/robot/send?access_token=tok"


@pytest.mark.parametrize(("errcode", "retryable"), [(310000, False), (130101, True)])
def test_dingtalk_errcode_is_failure(receiver: HttpReceiver, errcode: int, retryable: bool) -> None:
    receiver.reply = json.dumps({"errcode": errcode, "errmsg": "sign not match"}).encode()

    result = _send(ChannelKind.DINGTALK, receiver.url, "SECx")

    assert not result.ok
    assert result.retryable is retryable
    assert "sign not match" in result.detail


def test_dingtalk_server_error_is_retryable(receiver: HttpReceiver) -> None:
    receiver.status = 500

    result = _send(ChannelKind.DINGTALK, receiver.url, "SECx")

    assert (result.ok, result.retryable, result.status) == (False, True, "http 500")


# --------------------------------------------------------------------------
# Email (aiosmtpd)


class RecordingHandler:
    """aiosmtpd handler that stores envelopes and can refuse recipients."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.rcpt_reply: str | None = None

    async def handle_RCPT(  # aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as Q42"


class EphemeralController(Controller):
    """Controller listening on a pre-bound 127.0.0.1:0 socket (no port races)."""

    def __init__(self, handler: RecordingHandler, **kwargs: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        super().__init__(handler, hostname="127.0.0.1", port=self._sock.getsockname()[1], **kwargs)

    def _create_server(self) -> Any:
        # aiosmtpd documents _create_server overrides as supported when they
        # keep using _factory_invoker.
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"duty", b"pa55")
    # handled=False makes aiosmtpd answer "535" itself on failure.
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def smtp_port(smtp_handler: RecordingHandler) -> Iterator[int]:
    # Authentication without TLS is only acceptable because this is loopback.
    controller = EphemeralController(smtp_handler, authenticator=_authenticate, auth_require_tls=False)
    controller.start()
    yield controller.port
    controller.stop()


def _email_endpoint(
    port: int, target: str = "duty@songling.police.example", **options: Any
) -> ChannelEndpoint:
    base: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "from_addr": "quanzu@fzzx.police.example",
    }
    return ChannelEndpoint(kind=ChannelKind.EMAIL, target=target, options=base | options)


def test_email_delivered_with_utf8_body(smtp_port: int, smtp_handler: RecordingHandler) -> None:
    result = channel_for(ChannelKind.EMAIL).send(_email_endpoint(smtp_port), MESSAGE, NOW_MS)

    assert result.ok
    assert result.status == "smtp 250"
    assert "queued as Q42" in result.detail
    [envelope] = smtp_handler.envelopes
    assert envelope.mail_from == "quanzu@fzzx.police.example"
    assert envelope.rcpt_tos == ["duty@songling.police.example"]
    assert isinstance(envelope.content, bytes)
    mail = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == MESSAGE.title
    assert mail["To"] == "duty@songling.police.example"
    assert mail["X-Quanzu-Delivery"] == "outbox-42"
    assert mail["Message-ID"] == "<quanzu.outbox-42@fzzx.police.example>"
    # Date comes from the injected clock, not the wall clock.
    assert mail["Date"].datetime == dt.datetime.fromtimestamp(NOW_MS / 1000, tz=dt.UTC).replace(microsecond=0)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content_charset() == "utf-8"
    assert body["Content-Transfer-Encoding"] == "base64"  # 7-bit safe on any relay
    # Text is encoded in canonical CRLF form; compare line content only.
    assert body.get_content().splitlines() == [*MESSAGE.text.splitlines(), "", MESSAGE.url]


def test_email_multiple_recipients(smtp_port: int, smtp_handler: RecordingHandler) -> None:
    endpoint = _email_endpoint(smtp_port, target="a@example.test, b@example.test")

    assert channel_for(ChannelKind.EMAIL).send(endpoint, MESSAGE, NOW_MS).ok

    assert smtp_handler.envelopes[0].rcpt_tos == ["a@example.test", "b@example.test"]


def test_email_login(smtp_port: int, smtp_handler: RecordingHandler) -> None:
    endpoint = _email_endpoint(smtp_port, username="duty", password="pa55")

    assert channel_for(ChannelKind.EMAIL).send(endpoint, MESSAGE, NOW_MS).ok
    assert len(smtp_handler.envelopes) == 1


def test_email_bad_login_is_permanent(smtp_port: int, smtp_handler: RecordingHandler) -> None:
    endpoint = _email_endpoint(smtp_port, username="duty", password="wrong")

    result = channel_for(ChannelKind.EMAIL).send(endpoint, MESSAGE, NOW_MS)

    assert (result.ok, result.retryable, result.status) == (False, False, "smtp 535")
    assert smtp_handler.envelopes == []


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [("550 5.1.1 mailbox unavailable", False), ("451 4.3.0 try again later", True)],
)
def test_email_refused_recipient(
    smtp_port: int, smtp_handler: RecordingHandler, reply: str, retryable: bool
) -> None:
    smtp_handler.rcpt_reply = reply

    result = channel_for(ChannelKind.EMAIL).send(_email_endpoint(smtp_port), MESSAGE, NOW_MS)

    assert not result.ok
    assert result.retryable is retryable
    assert result.status == f"smtp {reply[:3]}"
    assert smtp_handler.envelopes == []


def test_email_connection_refused_is_retryable(closed_port: int) -> None:
    result = channel_for(ChannelKind.EMAIL).send(_email_endpoint(closed_port), MESSAGE, NOW_MS)

    assert not result.ok
    assert result.retryable
    assert result.status.startswith("connect error")


@pytest.mark.parametrize(
    "options",
    [{"smtp_host": ""}, {"from_addr": None}, {"smtp_port": "twenty-five"}, {"username": "only-user"}],
)
def test_email_bad_config_is_permanent(options: dict[str, Any]) -> None:
    result = channel_for(ChannelKind.EMAIL).send(_email_endpoint(25, **options), MESSAGE, NOW_MS)

    assert (result.ok, result.retryable, result.status) == (False, False, "bad config")


# --------------------------------------------------------------------------
# STARTTLS: an untrusted certificate must fail, never downgrade silently.


def _self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=36_500))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_email_starttls_rejects_untrusted_certificate(tmp_path: Path) -> None:
    handler = RecordingHandler()
    controller = EphemeralController(handler, tls_context=_self_signed_context(tmp_path))
    controller.start()
    try:
        endpoint = _email_endpoint(controller.port, starttls=True)
        result = channel_for(ChannelKind.EMAIL).send(endpoint, MESSAGE, NOW_MS)
    finally:
        controller.stop()

    assert (result.ok, result.retryable, result.status) == (False, False, "tls error")
    assert handler.envelopes == []


def test_email_starttls_unsupported_is_permanent(smtp_port: int) -> None:
    endpoint = _email_endpoint(smtp_port, starttls=True)

    result = channel_for(ChannelKind.EMAIL).send(endpoint, MESSAGE, NOW_MS)

    assert (result.ok, result.retryable, result.status) == (False, False, "bad config")


# --------------------------------------------------------------------------
# Factory


@pytest.mark.parametrize("kind", list(ChannelKind))
def test_channel_for_every_kind(kind: ChannelKind) -> None:
    channel = channel_for(kind, timeout_s=1.5)

    assert channel.kind is kind


def test_channel_for_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown channel kind"):
        channel_for("pager")  # type: ignore[arg-type]
