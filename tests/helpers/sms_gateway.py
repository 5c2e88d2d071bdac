"""A real SMS gateway test double on 127.0.0.1: speaks Quanzu's HTTP SMS contract
(dispatch.channels.HttpSmsGateway), checks the signature, records every accepted message, and
answers what a test tells it to."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from quanzu.dispatch.channels import verify_webhook_signature

LINK = re.compile(r"https?://\S+/h/([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Sms:
    id: str
    to: str
    text: str
    sender: str

    @property
    def token(self) -> str:
        match = LINK.search(self.text)
        assert match, f"no helper link in {self.text!r}"
        return match.group(1)


class SmsGatewayDouble:
    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.messages: list[Sms] = []
        self.rejected: list[str] = []  # why requests were refused (bad signature, bad body)
        self.status = 200
        self.reply: dict[str, Any] = {"code": 0, "message": "accepted"}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/sms/send"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def to(self, phone: str) -> Sms:
        found = [m for m in self.messages if m.to == phone]
        assert len(found) == 1, f"{len(found)} messages to {phone}: {self.messages}"
        return found[0]

    def _accept(self, headers: dict[str, str], body: bytes) -> str | None:
        if self.secret is not None:
            now_ms = int(time.time() * 1000)  # the gateway's own clock, as a real one would use
            signature = headers.get("x-quanzu-signature")
            timestamp = headers.get("x-quanzu-timestamp", "")
            # Quanzu signs with its (fake) clock: check the HMAC, not the freshness window.
            if not verify_webhook_signature(
                self.secret, timestamp, body, signature, int(timestamp or now_ms)
            ):
                return "bad signature"
        try:
            data = json.loads(body)
            self.messages.append(Sms(data["id"], data["to"], data["text"], data.get("sender", "")))
        except (ValueError, KeyError) as exc:
            return f"bad body: {exc}"
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                problem = double._accept(headers, body) if double.status == 200 else "told to fail"
                status, reply = double.status, double.reply
                if problem and double.status == 200:
                    double.rejected.append(problem)
                    status, reply = 401, {"code": 401, "message": problem}
                payload = json.dumps(reply).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        return Handler
