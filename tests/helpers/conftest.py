"""Fixtures for the social forces: the SMS gateway double, a district with a guard registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from quanzu.kit.runtime import SmsGatewayConfig
from tests.conftest import Env
from tests.helpers.sms_gateway import SmsGatewayDouble

SMS_SECRET = "sms-test-secret"


@pytest.fixture
def sms_gateway(env: Env) -> Iterator[SmsGatewayDouble]:
    """The double, and the app pointed at it (what QUANZU_SMS_GATEWAY_URL … configure)."""
    double = SmsGatewayDouble(secret=SMS_SECRET)
    double.start()
    env.rt.sms = SmsGatewayConfig(url=double.url, secret=SMS_SECRET, sender="吴江反诈")
    yield double
    double.stop()
