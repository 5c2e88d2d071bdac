"""The API documentation works without internet: every asset the docs page loads is served here."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Env


def test_docs_page_loads_only_local_assets(env: Env) -> None:
    page = env.client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(
        r"url: '([^']+)'", page.text
    )
    assert urls
    for url in urls:
        assert url.startswith("/"), f"docs load {url} from outside"
        assert env.client.get(url).status_code == 200, url


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_documents_the_intake_contract(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    for ref in _refs(spec):
        assert ref.removeprefix("#/components/schemas/") in components, f"dangling {ref}"
    op = spec["paths"]["/api/v1/warnings"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WarningIn"
    }
    schema = components["WarningIn"]
    assert {"external_id", "source", "issued_at", "target"} <= set(schema["required"])
    assert "risk_level" in schema["properties"] and "risk_level" not in schema["required"]  # scored if absent
    assert {"201", "200", "401", "409", "422"} <= set(op["responses"])
    assert "/api/v1/cases/{case_id}" in spec["paths"]
    assert "/api/v1/events" in spec["paths"]
