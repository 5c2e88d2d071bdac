"""What the hardening layer (security headers, rate limit, body limit) costs per request.

In process, no network: a minimal ASGI app answering a 2-byte JSON body is called directly, bare
and wrapped in `quanzu.security.middleware.Hardening`, with a machine token, a 200-byte body, and
10,000 distinct tokens in rotation (so the bucket dictionary is not a one-entry toy).

    .venv/bin/python bench/hardening.py [--requests 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from benchkit import machine

from quanzu.kit.clock import SystemClock
from quanzu.security.middleware import BodyLimits, CredentialRates, Hardening
from quanzu.security.ratelimit import Rate, RateLimiter


async def bare(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


def wrapped() -> Hardening:
    rate = Rate(1e9, 1_000_000)
    return Hardening(
        bare,
        limiter=RateLimiter(SystemClock()),
        rates=CredentialRates(machine=rate, personal=rate, session=rate),
        bodies=BodyLimits(default=1 << 20, uploads=20 << 20, upload_prefixes=("/api/v1/imports",)),
        hsts_seconds=31_536_000,
        tls_everywhere=False,
    )


async def run(app: Any, requests: int) -> float:
    body = b"x" * 200
    scopes = [
        {
            "type": "http",
            "method": "POST",
            "path": "/api/v1/screen",
            "scheme": "http",
            "headers": [
                (b"authorization", f"Bearer qzm_{n:040d}".encode()),
                (b"content-length", b"200"),
                (b"content-type", b"application/json"),
            ],
        }
        for n in range(10_000)
    ]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(_message: Any) -> None:
        return None

    started = time.perf_counter()
    for n in range(requests):
        await app(scopes[n % len(scopes)], receive, send)
    return (time.perf_counter() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    print(machine())
    print(datetime.now(UTC).isoformat(timespec="seconds"))
    bare_us = min(asyncio.run(run(bare, args.requests)) for _ in range(3))
    hardened_us = min(asyncio.run(run(wrapped(), args.requests)) for _ in range(3))
    print(f"bare ASGI app          {bare_us:6.2f} µs/request")
    print(f"with Hardening         {hardened_us:6.2f} µs/request")
    print(f"hardening costs        {hardened_us - bare_us:6.2f} µs/request")


if __name__ == "__main__":
    main()
