"""Builds the hardening layer from the settings (see docs/security.md for the defaults' reasons)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from quanzu.config import Settings
from quanzu.kit.runtime import Runtime
from quanzu.security.contract import declare_error_responses, request_validation_error
from quanzu.security.middleware import ASGIApp, BodyLimits, CredentialRates, Hardening
from quanzu.security.ratelimit import LoginThrottle, Rate, RateLimiter

__all__ = ["declare_error_responses", "harden", "install", "limiter_for", "request_validation_error"]


def credential_rates(settings: Settings) -> CredentialRates:
    n = settings.server_processes
    return CredentialRates(
        machine=Rate(settings.rate_machine_per_s, settings.rate_machine_burst).per_process(n),
        personal=Rate(settings.rate_personal_per_s, settings.rate_personal_burst).per_process(n),
        session=Rate(settings.rate_session_per_s, settings.rate_session_burst).per_process(n),
    )


def login_rate(settings: Settings) -> Rate:
    per_minute = Rate(settings.rate_login_per_minute / 60, settings.rate_login_burst)
    return per_minute.per_process(settings.server_processes)


def limiter_for(settings: Settings, rt: Runtime) -> RateLimiter:
    """One limiter per process on the runtime's clock; login names are throttled through `rt`."""
    limiter = RateLimiter(rt.clock)
    rt.login_throttle = LoginThrottle(limiter, login_rate(settings))
    return limiter


def install(app: FastAPI, settings: Settings, limiter: RateLimiter) -> None:
    app.add_middleware(Hardening, limiter=limiter, **_options(settings))


def harden(route: ASGIApp, settings: Settings, limiter: RateLimiter) -> Hardening:
    """The same layer around a route the app serves before its middleware stack (the lean
    screening route): same headers, same limiter and buckets, same body limits."""
    return Hardening(route, limiter=limiter, **_options(settings))


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "rates": credential_rates(settings),
        "bodies": BodyLimits(
            default=settings.max_request_bytes,
            uploads=settings.max_upload_bytes,
            upload_prefixes=settings.upload_paths,
        ),
        "hsts_seconds": settings.hsts_seconds,
        "tls_everywhere": settings.base_url.startswith("https://"),
    }
