"""`POST /api/v1/screen` as a lean ASGI route: the hot path of the police–bank API.

Banks screen every counter transaction, so this one route is served before the framework's
stack (the app dispatches it first, see `app.QuanzuApp`): no routing table, dependency solving,
exception middleware or response model, which cost more per call than the screening itself.
What the route needs it keeps, with the same code as everywhere else:

- the hardening layer (security headers, rate limit per credential, body limit), the very
  `Hardening` class with the same limiter, wrapped around this route by the app;
- the bearer token through the same credential cache (`web.edge.machine_actor_of`);
- the body parsed by `schemas.parse_screen`, which answers exactly as the pydantic model does;
- `service.screen` (index lookup, answer once the screening record is committed);
- errors rendered as on every other route (`web.edge.error_body`), in the same order as the
  FastAPI endpoint checks them: body, then credential, then role.

The FastAPI endpoint in `endpoints.py` stays: it documents the contract in OpenAPI and serves the
route wherever this dispatch does not apply (a server mounted under a root path).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from quanzu.banks import service
from quanzu.banks.schemas import MISS, parse_screen
from quanzu.kit.errors import DomainError, FieldError, ValidationFailed
from quanzu.web.edge import AppState, PayloadTooLarge, error_body, machine_actor_of

log = logging.getLogger(__name__)
PATH = "/api/v1/screen"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before its body arrived: nobody to answer."""


class ScreenRoute:
    def __init__(self, st: AppState) -> None:
        self._st = st
        self._limit = st.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[str, str] = {}
        try:
            body, status = await self._answer(scope, receive), 200
        except DomainError as exc:
            answer, headers = error_body(exc)
            body, status = _json(answer), exc.status_code
        except _Disconnected:
            return
        except Exception:
            # What Starlette's error middleware does for the other routes: log, plain 500.
            log.exception("screening failed")
            await _send(send, 500, b"Internal Server Error", b"text/plain; charset=utf-8", {})
            return
        await _send(send, status, body, b"application/json", headers)

    async def _answer(self, scope: Scope, receive: Receive) -> bytes:
        authorization = declared = None  # the first of each, as Starlette's `request.headers`
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"content-length" and declared is None:
                declared = value.decode("latin-1")
        body = parse_screen(_loads(await self._body(receive, declared)))
        st = self._st
        actor = await machine_actor_of(st, authorization or "")
        answer = await service.screen(st.reader, st.rt, actor, body)
        return _MISS if answer is MISS else _json(answer.model_dump(mode="json"))

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


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationFailed([FieldError("body", "请求体不是有效的 JSON")]) from None


def _json(content: Any) -> bytes:
    """Byte for byte what Starlette's `JSONResponse` renders."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()


_MISS = _json(MISS.model_dump(mode="json"))


async def _send(send: Send, status: int, body: bytes, content_type: bytes, extra: dict[str, str]) -> None:
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", content_type)]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
