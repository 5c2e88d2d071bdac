"""Schemathesis against every operation in /openapi.json, as every role: no 5xx, every response
conforms to its declared schema and status codes. Bounded for CI (a fixed seed: the same cases
each run); `make fuzz` runs many more, random ones (QUANZU_FUZZ_EXAMPLES, QUANZU_FUZZ_RANDOM)."""

from __future__ import annotations

import collections
import os
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Env
from tests.factories import District, bearer, id_number, warning
from tests.factories import seed as seed_district

EXAMPLES = int(os.environ.get("QUANZU_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# The live stream never ends, and logging out would revoke the token the next examples use.
NOT_FUZZED = {("GET", "/api/v1/events"), ("POST", "/api/v1/auth/logout")}
# Every role that calls the API: machine tokens and one person of each role (tests.factories.ORG).
ROLES = ("feed", "bank", "sl-d1", "sl-leader-day", "sl-chief", "b1-squad", "centre", "auditor")


def _tokens(district: District) -> dict[str, str]:
    machine = {"feed": district.feed_token, "bank": district.bank_token}
    return {role: machine.get(role) or district.tokens[role] for role in ROLES}


def _cases_to_find(env: Env, district: District) -> None:
    """A routed case and a triage case, so small ids reach real objects."""
    for n, address in enumerate(("江苏省苏州市吴江区盛泽镇舜湖西路1号", "上海市浦东新区世纪大道100号")):
        target = {"address": address, "phone": f"1386251{n:04d}", "id_number": id_number(seq=f"{n:03d}")}
        body = warning(f"FUZZ-{n}", target=target)
        r = env.client.post("/api/v1/warnings", json=body, headers=bearer(district.feed_token))
        assert r.status_code == 201, r.text


@pytest.mark.postgres_only
def test_every_operation_as_every_role(env: Env) -> None:
    district = seed_district(env)
    _cases_to_find(env, district)
    tokens = _tokens(district)
    schema = schemathesis.openapi.from_dict(env.client.get("/openapi.json").json())
    failures: list[str] = []
    calls: list[int] = []
    operations = _operations(schema)
    assert len(operations) > 40
    for operation in operations:
        if (operation.method.upper(), operation.path) not in NOT_FUZZED:
            failures += _fuzz(operation, env, tokens, calls)
    assert len(calls) >= len(operations) * min(EXAMPLES, 2), "schemathesis generated too few requests"
    print("fuzz statuses:", sorted(collections.Counter(calls).items()))
    assert not failures, "\n\n".join(failures[:20])


def _operations(schema: Any) -> list[Any]:
    """Every operation; a part of the spec schemathesis cannot read fails the test (an `Err` has no `ok`)."""
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(operation: Any, env: Env, tokens: dict[str, str], calls: list[int]) -> list[str]:
    """Valid and invalid requests for one operation, each as a random role; the app is called in
    process (the test client), on the same event loop as its lifespan."""
    found: list[str] = []
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        derandomize=not os.environ.get("QUANZU_FUZZ_RANDOM"),  # CI: the same requests every run
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, role=st.sampled_from(ROLES))
    def run(case: Any, role: str) -> None:
        env.clock.advance(timedelta(seconds=5))  # the limits refill: no example is refused for speed
        response = _send(
            env, case.as_transport_kwargs(base_url="http://testserver", headers=bearer(tokens[role]))
        )
        calls.append(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as exc:  # collect them all: one run shows every broken operation
            found.append(f"{operation.method.upper()} {operation.path} as {role}: {exc}"[:3000])

    run()
    return found


def _send(env: Env, request: dict[str, Any]) -> httpx.Response:
    """A requests-style request (what schemathesis serialises) through the httpx test client."""
    body: dict[str, Any] = {}
    if "json" in request:
        body["json"] = request["json"]
    elif request.get("data") is not None:
        data = request["data"]
        body["content" if isinstance(data, bytes | str) else "data"] = data
    response: httpx.Response = env.client.request(
        request["method"], request["url"], params=request.get("params"), headers=request["headers"], **body
    )
    return response


def test_the_checks_catch_an_undeclared_refusal(env: Env) -> None:
    """The harness can fail: a 403 the schema does not declare is reported."""
    district = seed_district(env)
    spec = env.client.get("/openapi.json").json()
    del spec["paths"]["/api/v1/cases"]["get"]["responses"]["403"]
    operations = _operations(schemathesis.openapi.from_dict(spec))
    operation = next(op for op in operations if op.path == "/api/v1/cases" and op.method.upper() == "GET")
    response = env.client.get("/api/v1/cases", headers=bearer(district.feed_token))
    assert response.status_code == 403
    with pytest.raises(FailureGroup):
        operation.Case().validate_response(response, checks=CHECKS)
