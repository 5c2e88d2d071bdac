"""The Content-Security-Policy breaks nothing: the pages with the most script (the dashboard's
ECharts, htmx everywhere, Swagger UI) run under it without one refusal, and a refusal is caught."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.conftest import DESKTOP, Web


@pytest.mark.usefixtures("sqlite_only")
def test_pages_run_under_the_csp_without_a_refusal(web: Web) -> None:
    case_id = web.post_warning()
    centre = web.page(DESKTOP, user="centre")
    for path in ("/dashboard", f"/cases/{case_id}", "/board", "/review"):
        response = centre.goto(path)
        assert response is not None and response.status == 200, path
        assert "script-src 'self';" in response.headers["content-security-policy"]
        if path == "/dashboard":
            expect(centre.locator("#main canvas").first).to_be_visible()  # ECharts drew its charts
    centre.goto("/docs")
    expect(centre.locator(".swagger-ui .info")).to_be_visible()  # Swagger UI started from its file
    web.assert_no_js_errors()


@pytest.mark.usefixtures("sqlite_only")
def test_an_inline_script_is_refused_and_reported(web: Web) -> None:
    page = web.page(DESKTOP, user="centre")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';"
        " document.head.appendChild(s); }"
    )
    assert page.evaluate("() => window.pwned") is None
    assert any("Content Security Policy" in v for v in web.csp_violations)
    web.csp_violations.clear()  # seen and expected: the fixture's own check must not fail
