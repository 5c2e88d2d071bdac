"""The app's outer guard, one pure ASGI layer (no per-request task or buffering, so the live
event stream and the screening hot path pass through it untouched):

1. security headers on every response (CSP without inline scripts, no framing, no referrer,
   no caching of anything but static assets, HSTS over TLS);
2. a rate limit per presented credential (machine, personal or session token);
3. a request body limit, on the declared Content-Length and on what is actually streamed, with
   larger limits for the routes that take file uploads.

Every refusal is JSON `{"error": ..., "message": ..., "errors": [{"field": "body", ...}]}`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from quanzu.security.ratelimit import Rate, RateLimiter, credential_key

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "qz_session"  # the same name as web.edge.SESSION_COOKIE (no import: no cycle)

# Scripts and styles only from our own origin: the pages load htmx, ECharts and their own code
# as files and carry no inline script, style element or event-handler attribute.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI styles elements inline; its script is still our own file (app._mount_docs).
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), "
    "midi=(), magnetometer=(), gyroscope=(), accelerometer=(), display-capture=()"
)
BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("permissions-policy", PERMISSIONS_POLICY),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
)
CACHEABLE_PREFIXES = ("/static/", "/docs-assets/")  # public files; everything else may carry PII
UNLIMITED_PREFIXES = ("/static/", "/docs-assets/", "/healthz")  # no credential, no rate limit


@dataclass(frozen=True, slots=True)
class CredentialRates:
    """Per-process rates by kind of credential (token prefixes from auth.service._new_token)."""

    machine: Rate
    personal: Rate
    session: Rate

    def for_token(self, token: str) -> Rate:
        if token.startswith("qzm_"):
            return self.machine
        if token.startswith("qzs_"):
            return self.session
        return self.personal  # personal tokens, and anything unknown: the strictest sensible


@dataclass(frozen=True, slots=True)
class BodyLimits:
    default: int
    uploads: int
    upload_prefixes: tuple[str, ...]

    def for_path(self, path: str) -> int:
        return self.uploads if path.startswith(self.upload_prefixes) else self.default


class BodyTooLarge(Exception):
    """Raised from `receive` when a streamed body passes the limit (no Content-Length, or a lie)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit


class Hardening:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        rates: CredentialRates,
        bodies: BodyLimits,
        hsts_seconds: int,
        tls_everywhere: bool,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.rates = rates
        self.bodies = bodies
        self.hsts = f"max-age={hsts_seconds}; includeSubDomains" if hsts_seconds > 0 else None
        self.tls_everywhere = tls_everywhere  # QUANZU_BASE_URL is https: a proxy terminates TLS
        self._headers = self._header_sets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = _request_headers(scope)
        respond = _SendWithHeaders(send, self._headers_for(scope, path))
        retry_after = self._rate_limited(headers, path)
        if retry_after:
            await _refuse(respond, 429, "rate_limited", "请求过于频繁，请稍后再试", retry_after=retry_after)
            return
        limit = self.bodies.for_path(path)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(respond, limit)
            return
        try:
            await self.app(scope, _bounded(receive, limit), respond)
        except BodyTooLarge:
            if respond.started:
                raise
            await _too_large(respond, limit)

    # --- headers ---------------------------------------------------------------------------------

    def _headers_for(self, scope: Scope, path: str) -> tuple[tuple[bytes, bytes], ...]:
        tls = self.hsts is not None and (scope.get("scheme") == "https" or self.tls_everywhere)
        return self._headers[(path == "/docs", tls, not path.startswith(CACHEABLE_PREFIXES))]

    def _header_sets(self) -> dict[tuple[bool, bool, bool], tuple[tuple[bytes, bytes], ...]]:
        """Encoded once: (docs page?, over TLS?, not a static file?) → the headers to add."""
        sets = {}
        for docs, tls, no_store in itertools.product((False, True), repeat=3):
            headers = [*BASE_HEADERS, ("content-security-policy", DOCS_CSP if docs else CSP)]
            if tls and self.hsts:
                headers.append(("strict-transport-security", self.hsts))
            if no_store:
                headers.append(("cache-control", "no-store"))
            sets[(docs, tls, no_store)] = tuple((name.encode(), value.encode()) for name, value in headers)
        return sets

    # --- rate limit ------------------------------------------------------------------------------

    def _rate_limited(self, headers: dict[bytes, str], path: str) -> float:
        if path.startswith(UNLIMITED_PREFIXES):
            return 0.0
        token = _credential(headers)
        if token is None:
            return 0.0  # nothing to count against; login names are limited in auth.service.login
        return self.limiter.take(credential_key(token), self.rates.for_token(token))


class _SendWithHeaders:
    """`send` adding the security headers to the response start; remembers whether it started."""

    __slots__ = ("extra", "send", "started")

    def __init__(self, send: Send, extra: tuple[tuple[bytes, bytes], ...]) -> None:
        self.send = send
        self.extra = extra
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            # A route's own, stricter choice stands (the helper link page's CSP, for one).
            headers.extend(header for header in self.extra if header[0] not in present)
            message["headers"] = headers
        await self.send(message)


def _bounded(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def bounded_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return bounded_receive


_WANTED = frozenset({b"authorization", b"cookie", b"content-length"})


def _request_headers(scope: Scope) -> dict[bytes, str]:
    """The few request headers this layer reads, in one pass."""
    found: dict[bytes, str] = {}
    for key, value in scope.get("headers", ()):
        name = key.lower()
        if name in _WANTED:
            found[name] = value.decode("latin-1").strip()
    return found


def _credential(headers: dict[bytes, str]) -> str | None:
    """The bearer token, else the session cookie: what `web.edge.bearer_token` authenticates."""
    authorization = headers.get(b"authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    cookies = headers.get(b"cookie")
    if cookies:
        for part in cookies.split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE and value:
                return value
    return None


async def _too_large(send: Send, limit: int) -> None:
    await _refuse(
        send,
        413,
        "payload_too_large",
        f"request body exceeds {limit} bytes",
        errors=[{"field": "body", "message": f"请求体超过 {limit} 字节上限"}],
    )


async def _refuse(
    send: Send,
    status: int,
    error: str,
    message: str,
    *,
    retry_after: float | None = None,
    errors: list[dict[str, str]] | None = None,
) -> None:
    body: dict[str, Any] = {"error": error, "message": message}
    if errors:
        body["errors"] = errors
    payload = json.dumps(body, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(max(1, int(-(-retry_after // 1)))).encode()))
    if status == 413:
        headers.append((b"connection", b"close"))  # the unread rest of the body is not worth reading
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
