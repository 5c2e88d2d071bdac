"""Lean routes: a machine API's hot path served before the framework's stack.

The bank screening call and the upstream feeds' warnings are most of the server's traffic. For
them the app (`app.QuanzuApp`) dispatches by exact method and path to a `LeanRoute` before
FastAPI's middleware, routing table, dependency solving and response models, which cost more per
call than a screening and a sixth of a warning's CPU. What such a route needs it keeps, with the
same code as everywhere else:

- the hardening layer (security headers, rate limit per credential, body limit): the very
  `Hardening` class with the same limiter, wrapped around the route by the app;
- the bearer token through the same credential cache (`web.edge.machine_actor_of`);
- errors rendered as on every other route (`web.edge.error_body`); an unexpected one logged and
  answered with a plain 500, as Starlette's error middleware does;
- JSON rendered byte for byte as Starlette's `JSONResponse`.

The FastAPI endpoints stay: they document the contract in OpenAPI and serve the path wherever the
lean dispatch does not apply (a browser's cookie session, a server mounted under a root path).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from quanzu.kit.errors import DomainError
from quanzu.security.middleware import BodyTooLarge, Receive, Scope, Send
from quanzu.web.edge import AppState, PayloadTooLarge, error_body, loads_json

log = logging.getLogger(__name__)


class _Disconnected(Exception):
    """The client went away before its body arrived: nobody to answer."""


class LeanRoute:
    """A JSON-in, JSON-out route: subclasses answer `(status, body)` from the Authorization
    header and the parsed body."""

    def __init__(self, st: AppState) -> None:
        self.st = st
        self._limit = st.settings.max_body_bytes

    async def answer(self, authorization: str, body: Any) -> tuple[int, bytes]:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[str, str] = {}
        try:
            authorization, declared = _headers(scope)
            status, body = await self.answer(authorization, loads_json(await self._body(receive, declared)))
        except DomainError as exc:
            answer, headers = error_body(exc)
            body, status = json_bytes(answer), exc.status_code
        except _Disconnected:
            return
        except BodyTooLarge:  # a streamed body past the limit: the hardening layer answers 413
            raise
        except Exception:
            log.exception("%s failed", scope["path"])
            await _send(send, 500, b"Internal Server Error", b"text/plain; charset=utf-8", {})
            return
        await _send(send, status, body, b"application/json", headers)

    async def _body(self, receive: Receive, declared: str | None) -> bytes:
        """The whole body, refused past the limit before it is read (as `web.edge.json_body`)."""
        if declared is not None and declared.isdigit() and int(declared) > self._limit:
            raise PayloadTooLarge(self._limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                raise PayloadTooLarge(self._limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def has_authorization(scope: Scope) -> bool:
    return any(name == b"authorization" for name, _ in scope["headers"])


def _headers(scope: Scope) -> tuple[str, str | None]:
    """Authorization ("" if absent) and Content-Length: the first of each, as Starlette's."""
    authorization = declared = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"content-length" and declared is None:
            declared = value.decode("latin-1")
    return authorization or "", declared


def json_bytes(content: Any) -> bytes:
    """Byte for byte what Starlette's `JSONResponse` renders."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()


async def _send(send: Send, status: int, body: bytes, content_type: bytes, extra: dict[str, str]) -> None:
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", content_type)]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
