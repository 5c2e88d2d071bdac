"""Pluggable outbound notification channels (webhook, WeCom, DingTalk, email, SMS).

The delivery worker calls ``channel_for(kind).send(...)`` once per attempt and
owns retries/backoff; this module only performs a single attempt and reports
what happened.  ``send`` never raises: every failure is folded into a
``DeliveryResult`` whose ``retryable`` flag tells the worker whether trying
again later can help.

The clock is injected (``now_epoch_ms``) so signatures and timestamps are
deterministic in tests and consistent with the worker's own bookkeeping.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import json
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote_plus, urlsplit

import httpx

__all__ = [
    "Channel",
    "ChannelEndpoint",
    "ChannelKind",
    "DeliveryResult",
    "DingTalkChannel",
    "EmailChannel",
    "HttpSmsGateway",
    "OutboundMessage",
    "SmsChannel",
    "SmsGateway",
    "WeComChannel",
    "WebhookChannel",
    "channel_for",
    "sign_dingtalk",
    "sign_webhook",
    "verify_webhook_signature",
]

DETAIL_LIMIT = 500
USER_AGENT = "quanzu-dispatch/1"
SIGNATURE_PREFIX = "sha256="
# WeCom rejects markdown content above 4096 bytes (UTF-8); truncate rather
# than fail permanently on an unusually long case summary.
WECOM_MARKDOWN_MAX_BYTES = 4096
# Robot errcodes that mean "try again later" rather than "this config is wrong".
WECOM_RETRYABLE_ERRCODES = frozenset({-1, 45009})  # system busy, rate limit
DINGTALK_RETRYABLE_ERRCODES = frozenset({-1, 130101})  # system busy, sent too fast
RETRYABLE_HTTP_4XX = frozenset({408, 429})


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"  # generic signed JSON webhook
    WECOM = "wecom"  # WeCom (企业微信) group robot webhook
    DINGTALK = "dingtalk"  # DingTalk (钉钉) custom robot webhook
    EMAIL = "email"  # SMTP
    SMS = "sms"  # a text to one person's phone through the SMS gateway (helpers' one-time links)


@dataclass(frozen=True, slots=True)
class ChannelEndpoint:
    kind: ChannelKind
    target: str  # URL for webhook kinds; "to@addr" for email
    secret: str | None = None  # HMAC key (webhook), DingTalk 加签 secret
    # email: smtp_host, smtp_port, from_addr, username, password, starttls(bool)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    message_id: str  # stable outbox row id; lets receivers de-duplicate retries
    event: str  # e.g. "case.dispatched"
    title: str  # short Chinese title
    text: str  # plain text body (masked PII only)
    url: str | None  # link to the case page
    data: dict[str, Any]  # structured payload (JSON-serialisable)
    recipient: str | None = None  # E.164 phone for person-addressed channels (SMS); decrypted at send


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    retryable: bool  # False for permanent failures (most 4xx, bad config)
    status: str  # e.g. "http 200", "smtp 250", "timeout", "connect error: ..."
    detail: str = ""  # response excerpt (<= 500 chars) or error text


class Channel(Protocol):
    kind: ChannelKind

    def send(
        self, endpoint: ChannelEndpoint, message: OutboundMessage, now_epoch_ms: int
    ) -> DeliveryResult: ...


# --------------------------------------------------------------------------
# Result helpers


def _excerpt(text: str) -> str:
    return text[:DETAIL_LIMIT]


def _permanent(status: str, detail: str = "") -> DeliveryResult:
    return DeliveryResult(ok=False, retryable=False, status=status, detail=_excerpt(detail))


def _transient(status: str, detail: str = "") -> DeliveryResult:
    return DeliveryResult(ok=False, retryable=True, status=status, detail=_excerpt(detail))


def _http_status_result(response: httpx.Response) -> DeliveryResult:
    """Classify a response purely by status code (no body semantics)."""
    code = response.status_code
    status = f"http {code}"
    detail = _excerpt(response.text)
    if 200 <= code < 300:
        return DeliveryResult(ok=True, retryable=False, status=status, detail=detail)
    # Redirects are not followed: a robot/webhook URL that redirects is
    # misconfigured, and following could leak the signed body elsewhere.
    retryable = code >= 500 or code in RETRYABLE_HTTP_4XX
    return DeliveryResult(ok=False, retryable=retryable, status=status, detail=detail)


# --------------------------------------------------------------------------
# Signatures


def sign_webhook(secret: str, timestamp_ms: int, raw_body: bytes) -> str:
    """Return the ``X-Quanzu-Signature`` value for a webhook body.

    The timestamp is part of the signed material so a captured request cannot
    be replayed later with a fresh timestamp header.
    """
    signed = str(timestamp_ms).encode("ascii") + b"." + raw_body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_webhook_signature(
    secret: str,
    timestamp: str | int,
    raw_body: bytes,
    signature_header: str | None,
    now_epoch_ms: int,
    tolerance_ms: int = 300_000,
) -> bool:
    """Check a Quanzu webhook signature on the receiving side.

    Rejects stale or future timestamps outside ``tolerance_ms`` to bound the
    replay window, and compares in constant time.
    """
    if not signature_header or not signature_header.startswith(SIGNATURE_PREFIX):
        return False
    try:
        timestamp_ms = int(timestamp)
    except ValueError:
        return False
    if abs(now_epoch_ms - timestamp_ms) > tolerance_ms:
        return False
    expected = sign_webhook(secret, timestamp_ms, raw_body)
    return hmac.compare_digest(expected.encode("ascii"), signature_header.encode("ascii", "replace"))


def sign_dingtalk(secret: str, timestamp_ms: int) -> str:
    """DingTalk custom-robot 加签: base64(HMAC-SHA256(secret, "{ts}\\n{secret}")).

    Returned un-encoded; the caller URL-encodes it into the query string.
    """
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


# --------------------------------------------------------------------------
# HTTP transport shared by the webhook-style channels


def _check_http_url(url: str) -> DeliveryResult | None:
    """Reject non-HTTP targets up front: retrying a bad URL never helps."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # The URL itself is not echoed: robot URLs embed access tokens.
        return _permanent("bad config", "target must be an http(s) URL")
    return None


def _encode_json(payload: Mapping[str, Any]) -> bytes | DeliveryResult:
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        return _permanent("bad payload", f"not JSON-serialisable: {exc}")


def _post(
    url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
) -> httpx.Response | DeliveryResult:
    """POST once; transport failures become results instead of exceptions."""
    all_headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        **headers,
    }
    try:
        # trust_env=False: never route police notifications through proxies
        # picked up from the environment.
        with httpx.Client(timeout=timeout_s, trust_env=False, follow_redirects=False) as client:
            return client.post(url, content=body, headers=all_headers)
    except httpx.TimeoutException as exc:
        return _transient("timeout", type(exc).__name__)
    except httpx.ConnectError as exc:
        return _transient(f"connect error: {_excerpt(str(exc))}", str(exc))
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        return _permanent("bad config", "invalid target URL")
    except httpx.HTTPError as exc:
        # Dropped connections, protocol errors mid-response: worth a retry.
        return _transient("transport error", f"{type(exc).__name__}: {exc}")


def _robot_result(response: httpx.Response, retryable_errcodes: frozenset[int]) -> DeliveryResult:
    """Interpret a WeCom/DingTalk robot reply, which signals errors in the body."""
    http_result = _http_status_result(response)
    if not http_result.ok:
        return http_result
    try:
        reply = response.json()
        errcode = int(reply["errcode"])
    except (ValueError, KeyError, TypeError):
        # A 200 without the robot envelope usually means an intercepting
        # gateway answered; the message was probably not delivered.
        return _transient(http_result.status, f"unexpected robot reply: {http_result.detail}")
    if errcode == 0:
        return http_result
    status = f"{http_result.status} errcode {errcode}"
    if errcode in retryable_errcodes:
        return _transient(status, http_result.detail)
    return _permanent(status, http_result.detail)


# --------------------------------------------------------------------------
# Channels


class WebhookChannel:
    """Generic JSON webhook, signed Stripe/GitHub style when a secret is set."""

    kind: ChannelKind = ChannelKind.WEBHOOK

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s

    def send(self, endpoint: ChannelEndpoint, message: OutboundMessage, now_epoch_ms: int) -> DeliveryResult:
        try:
            return self._send(endpoint, message, now_epoch_ms)
        except Exception as exc:  # contract: send() never raises
            return _permanent("internal error", f"{type(exc).__name__}: {exc}")

    def _send(self, endpoint: ChannelEndpoint, message: OutboundMessage, now_epoch_ms: int) -> DeliveryResult:
        if (bad := _check_http_url(endpoint.target)) is not None:
            return bad
        body = _encode_json(
            {
                "id": message.message_id,
                "event": message.event,
                "title": message.title,
                "text": message.text,
                "url": message.url,
                "data": message.data,
                "sent_at_ms": now_epoch_ms,
            }
        )
        if isinstance(body, DeliveryResult):
            return body
        headers = {
            "X-Quanzu-Event": message.event,
            "X-Quanzu-Delivery": message.message_id,
            "X-Quanzu-Timestamp": str(now_epoch_ms),
        }
        if endpoint.secret:
            headers["X-Quanzu-Signature"] = sign_webhook(endpoint.secret, now_epoch_ms, body)
        response = _post(endpoint.target, body, headers, self.timeout_s)
        if isinstance(response, DeliveryResult):
            return response
        return _http_status_result(response)


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    # errors="ignore" drops a multi-byte character cut in half at the end.
    return encoded[: max_bytes - 3].decode("utf-8", errors="ignore") + "…"


def wecom_markdown(message: OutboundMessage) -> str:
    lines = [f"**{message.title}**", message.text]
    if message.url:
        lines.append(f"[查看案件]({message.url})")
    return _truncate_utf8("\n".join(lines), WECOM_MARKDOWN_MAX_BYTES)


def dingtalk_markdown(message: OutboundMessage) -> str:
    # DingTalk markdown collapses single newlines; blank lines keep paragraphs.
    body = message.text.replace("\n", "\n\n")
    parts = [f"#### {message.title}", body]
    if message.url:
        parts.append(f"[查看案件]({message.url})")
    return "\n\n".join(parts)


def _dingtalk_signed_url(url: str, secret: str, now_epoch_ms: int) -> str:
    separator = "&" if urlsplit(url).query else ("" if url.endswith("?") else "?")
    sign = quote_plus(sign_dingtalk(secret, now_epoch_ms))
    return f"{url}{separator}timestamp={now_epoch_ms}&sign={sign}"


class _RobotChannel:
    """Shared send flow for the WeCom and DingTalk group robots."""

    kind: ChannelKind
    retryable_errcodes: frozenset[int] = frozenset()

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s

    def send(self, endpoint: ChannelEndpoint, message: OutboundMessage, now_epoch_ms: int) -> DeliveryResult:
        try:
            return self._send(endpoint, message, now_epoch_ms)
        except Exception as exc:  # contract: send() never raises
            return _permanent("internal error", f"{type(exc).__name__}: {exc}")

    def _send(self, endpoint: ChannelEndpoint, message: OutboundMessage, now_epoch_ms: int) -> DeliveryResult:
        if (bad := _check_http_url(endpoint.target)) is not None:
            return bad
        body = _encode_json(self._payload(message))
        if isinstance(body, DeliveryResult):
            return body
        url = self._url(endpoint, now_epoch_ms)
        response = _post(url, body, {}, self.timeout_s)
        if isinstance(response, DeliveryResult):
            return response
        return _robot_result(response, self.retryable_errcodes)

    def _payload(self, message: OutboundMessage) -> dict[str, Any]:
        raise NotImplementedError

    def _url(self, endpoint: ChannelEndpoint, now_epoch_ms: int) -> str:
        return endpoint.target


class WeComChannel(_RobotChannel):
    """企业微信群机器人; authentication is the key embedded in the URL."""

    kind = ChannelKind.WECOM
    retryable_errcodes = WECOM_RETRYABLE_ERRCODES

    def _payload(self, message: OutboundMessage) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": wecom_markdown(message)}}


class DingTalkChannel(_RobotChannel):
    """钉钉自定义机器人, with optional 加签 (signed URL) security."""

    kind = ChannelKind.DINGTALK
    retryable_errcodes = DINGTALK_RETRYABLE_ERRCODES

    def _payload(self, message: OutboundMessage) -> dict[str, Any]:
        return {
            "msgtype": "markdown",
            "markdown": {"title": message.title, "text": dingtalk_markdown(message)},
        }

    def _url(self, endpoint: ChannelEndpoint, now_epoch_ms: int) -> str:
        if not endpoint.secret:
            # Robots secured by keyword or IP allow-list need no signature.
            return endpoint.target
        return _dingtalk_signed_url(endpoint.target, endpoint.secret, now_epoch_ms)


# --------------------------------------------------------------------------
# Email


@dataclass(frozen=True, slots=True)
class _SmtpSettings:
    host: str
    port: int
    from_addr: str
    username: str | None
    password: str | None
    starttls: bool


def _smtp_settings(options: Mapping[str, Any]) -> _SmtpSettings | DeliveryResult:
    host = options.get("smtp_host")
    from_addr = options.get("from_addr")
    port = options.get("smtp_port", 25)
    username = options.get("username")
    password = options.get("password")
    if not isinstance(host, str) or not host:
        return _permanent("bad config", "smtp_host is required")
    if not isinstance(from_addr, str) or "@" not in from_addr:
        return _permanent("bad config", "from_addr is required")
    if isinstance(port, bool) or not isinstance(port, int | str) or not str(port).isdigit():
        return _permanent("bad config", "smtp_port must be an integer")
    if username is not None and (not isinstance(username, str) or not isinstance(password, str)):
        return _permanent("bad config", "username and password must both be strings")
    return _SmtpSettings(
        host=host,
        port=int(port),
        from_addr=from_addr,
        username=username,
        password=password if username is not None else None,
        starttls=bool(options.get("starttls", False)),
    )


def _recipients(target: str) -> list[str]:
    return [addr.strip() for addr in target.split(",") if addr.strip()]


def _message_id_header(message_id: str, from_addr: str) -> str:
    # Stable Message-ID derived from the outbox id: mail systems can then
    # recognise a retried delivery as the same message.
    local = re.sub(r"[^A-Za-z0-9._-]", "_", message_id) or "message"
    domain = from_addr.rpartition("@")[2] or "quanzu.invalid"
    return f"<quanzu.{local}@{domain}>"


def build_email(
    message: OutboundMessage, from_addr: str, recipients: list[str], now_epoch_ms: int
) -> EmailMessage:
    # policy.SMTP: CRLF line endings, as the wire format (and canonical text) requires.
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["Subject"] = message.title
    mail["From"] = from_addr
    mail["To"] = ", ".join(recipients)
    mail["Date"] = formatdate(now_epoch_ms / 1000, usegmt=True)
    mail["Message-ID"] = _message_id_header(message.message_id, from_addr)
    mail["X-Quanzu-Event"] = message.event
    mail["X-Quanzu-Delivery"] = message.message_id
    body = message.text if not message.url else f"{message.text}\n\n{message.url}"
    # base64 keeps the Chinese body 7-bit clean, so relays without 8BITMIME
    # cannot mangle it.
    mail.set_content(body, charset="utf-8", cte="base64")
    return mail


def _smtp_reply_result(code: int, reply: bytes | str) -> DeliveryResult:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    status = f"smtp {code}"
    if 200 <= code < 300:
        return DeliveryResult(ok=True, retryable=False, status=status, detail=_excerpt(text))
    # SMTP semantics: 4xx is a transient failure, 5xx is permanent.
    return DeliveryResult(ok=False, retryable=code < 500, status=status, detail=_excerpt(text))


def _smtp_transaction(
    smtp: smtplib.SMTP, from_addr: str, recipients: list[str], raw: bytes
) -> DeliveryResult:
    """Run MAIL/RCPT/DATA by hand to keep the server's final reply (queue id)."""
    code, reply = smtp.mail(from_addr)
    if code != 250:
        return _smtp_reply_result(code, reply)
    for rcpt in recipients:
        code, reply = smtp.rcpt(rcpt)
        if code not in (250, 251):
            return _smtp_reply_result(code, reply)
    code, reply = smtp.data(raw)
    return _smtp_reply_result(code, reply)


class EmailChannel:
    """Plain-text UTF-8 email over SMTP, optionally with STARTTLS and login."""

    kind: ChannelKind = ChannelKind.EMAIL

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s

    def send(self, endpoint: ChannelEndpoint, message: OutboundMessage, now_epoch_ms: int) -> DeliveryResult:
        try:
            return self._send(endpoint, message, now_epoch_ms)
        except smtplib.SMTPNotSupportedError as exc:
            return _permanent("bad config", str(exc))
        except smtplib.SMTPResponseException as exc:
            return _smtp_reply_result(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPServerDisconnected as exc:
            return _transient("smtp disconnected", str(exc))
        except smtplib.SMTPException as exc:
            return _transient("smtp error", f"{type(exc).__name__}: {exc}")
        except TimeoutError:
            return _transient("timeout", "smtp timeout")
        except ssl.SSLCertVerificationError as exc:
            return _permanent("tls error", str(exc))
        except OSError as exc:
            # Refused/unreachable/DNS failures: the server may come back.
            return _transient(f"connect error: {_excerpt(str(exc))}", str(exc))
        except Exception as exc:  # contract: send() never raises
            return _permanent("internal error", f"{type(exc).__name__}: {exc}")

    def _send(self, endpoint: ChannelEndpoint, message: OutboundMessage, now_epoch_ms: int) -> DeliveryResult:
        settings = _smtp_settings(endpoint.options)
        if isinstance(settings, DeliveryResult):
            return settings
        recipients = _recipients(endpoint.target)
        if not recipients:
            return _permanent("bad config", "no recipient address")
        mail = build_email(message, settings.from_addr, recipients, now_epoch_ms)
        raw = mail.as_bytes()
        with smtplib.SMTP(settings.host, settings.port, timeout=self.timeout_s) as smtp:
            self._prepare_session(smtp, settings)
            return _smtp_transaction(smtp, settings.from_addr, recipients, raw)

    @staticmethod
    def _prepare_session(smtp: smtplib.SMTP, settings: _SmtpSettings) -> None:
        smtp.ehlo_or_helo_if_needed()
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.username is not None and settings.password is not None:
            smtp.login(settings.username, settings.password)


# --------------------------------------------------------------------------
# SMS


class SmsGateway(Protocol):
    """Sends one text to one phone. Implementations fold every failure into the result."""

    def send(self, to: str, text: str, message_id: str, now_epoch_ms: int) -> DeliveryResult: ...


class HttpSmsGateway:
    """Quanzu's SMS gateway contract over HTTP: POST JSON ``{id, to, text, sender}`` signed like
    a webhook (``X-Quanzu-Timestamp``, ``X-Quanzu-Signature``); 2xx is accepted unless the reply
    says ``{"ok": false}`` or carries a non-zero ``code``. An intranet SMS platform (运营商短信
    网关) sits behind a small adapter speaking this."""

    def __init__(self, url: str, secret: str | None, sender: str, timeout_s: float = 5.0) -> None:
        self.url, self.secret, self.sender, self.timeout_s = url, secret, sender, timeout_s

    def send(self, to: str, text: str, message_id: str, now_epoch_ms: int) -> DeliveryResult:
        if (bad := _check_http_url(self.url)) is not None:
            return bad
        body = _encode_json({"id": message_id, "to": to, "text": text, "sender": self.sender})
        if isinstance(body, DeliveryResult):
            return body
        headers = {"X-Quanzu-Delivery": message_id, "X-Quanzu-Timestamp": str(now_epoch_ms)}
        if self.secret:
            headers["X-Quanzu-Signature"] = sign_webhook(self.secret, now_epoch_ms, body)
        response = _post(self.url, body, headers, self.timeout_s)
        if isinstance(response, DeliveryResult):
            return response
        result = _http_status_result(response)
        if not result.ok:
            return result
        return _sms_reply_result(response, result)


def _sms_reply_result(response: httpx.Response, accepted: DeliveryResult) -> DeliveryResult:
    try:
        reply = response.json()
    except ValueError:
        return accepted  # a bare 2xx is an acceptance
    refused = isinstance(reply, dict) and (
        reply.get("ok") is False or reply.get("code") not in (None, 0, "0", "OK")
    )
    if refused:
        # The gateway refused this message (blocked number, bad text): retrying will not help.
        return _permanent(f"{accepted.status} refused", accepted.detail)
    return accepted


class SmsChannel:
    """A text message through the gateway named by the endpoint (target URL, secret, sender)."""

    kind: ChannelKind = ChannelKind.SMS

    def __init__(self, timeout_s: float = 5.0, gateway: SmsGateway | None = None) -> None:
        self.timeout_s = timeout_s
        self.gateway = gateway  # another gateway implementation; None: HTTP, as the endpoint says

    def send(self, endpoint: ChannelEndpoint, message: OutboundMessage, now_epoch_ms: int) -> DeliveryResult:
        try:
            if not message.recipient:
                return _permanent("bad payload", "an SMS needs a recipient phone")
            gateway = self.gateway or HttpSmsGateway(
                endpoint.target, endpoint.secret, str(endpoint.options.get("sender", "")), self.timeout_s
            )
            return gateway.send(message.recipient, message.text, message.message_id, now_epoch_ms)
        except Exception as exc:  # contract: send() never raises
            return _permanent("internal error", f"{type(exc).__name__}: {exc}")


_CHANNELS: dict[ChannelKind, type[WebhookChannel | _RobotChannel | EmailChannel | SmsChannel]] = {
    ChannelKind.WEBHOOK: WebhookChannel,
    ChannelKind.WECOM: WeComChannel,
    ChannelKind.DINGTALK: DingTalkChannel,
    ChannelKind.EMAIL: EmailChannel,
    ChannelKind.SMS: SmsChannel,
}


def channel_for(kind: ChannelKind, *, timeout_s: float = 5.0) -> Channel:
    """Return a channel for ``kind``; raises ``ValueError`` for unknown kinds."""
    try:
        channel_type = _CHANNELS[ChannelKind(kind)]
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unknown channel kind: {kind!r}") from exc
    return channel_type(timeout_s=timeout_s)
