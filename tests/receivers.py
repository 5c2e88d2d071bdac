"""Real receivers on 127.0.0.1 for outbound deliveries: an HTTP server that records requests and
answers what a test tells it to, and a port that refuses connections."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """ThreadingHTTPServer that records POSTs and answers a configurable reply."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.status = 200
        self.reply = b'{"errcode": 0, "errmsg": "ok"}'
        self.hold = False  # when True, handlers block until `release` is set
        self.release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval keeps shutdown() (and so each test's teardown) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.requests.append(RecordedRequest(self.path, headers, body))
                if receiver.hold:
                    receiver.release.wait(timeout=30)
                # After a client timeout the peer is gone; a failed write is expected.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer()

            def _answer(self) -> None:
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet."""

        return Handler


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def closed_port() -> Iterator[int]:
    # A bound but non-listening socket makes connects fail with ECONNREFUSED,
    # and holding it prevents anything else from taking the port meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
