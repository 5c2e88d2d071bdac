"""The simulator's HTML report opens offline in Chromium: every chart draws, nothing errs."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser

from quanzu.config import Settings
from quanzu.simulation import report, service
from quanzu.simulation.scenario import scenario_from


def _open(browser: Browser, path: Path) -> tuple[int, int, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route(
        "**/*",
        lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_(),
    )
    page.goto(path.as_uri())
    page.wait_for_function("document.body.dataset.charts !== undefined")
    charts = int(page.evaluate("document.body.dataset.charts"))
    canvases = page.locator("canvas").count()
    page.close()
    return charts, canvases, errors


def test_the_run_report_draws_every_chart_offline(browser: Browser, tmp_path: Path) -> None:
    scenario = scenario_from({"days": 2, "stations": ["SL", "SZ"]})
    result = service.run(scenario, seed=1, keep=False)
    path = tmp_path / "report.html"
    path.write_text(report.run_report(result, scenario, Settings().web_assets_dir), encoding="utf-8")
    assert "<script src=" not in path.read_text(encoding="utf-8")  # self-contained
    charts, canvases, errors = _open(browser, path)
    assert charts == 7 and canvases >= charts
    assert errors == []


def test_the_comparison_report_draws_every_chart_offline(browser: Browser, tmp_path: Path) -> None:
    a = scenario_from({"days": 1, "stations": ["SL"], "name": "卫士开"})
    b = scenario_from({"days": 1, "stations": ["SL"], "name": "卫士关", "social": {"guards": False}})
    comparison, _, _ = service.compare(a, b, [1, 2])
    path = tmp_path / "compare.html"
    path.write_text(report.comparison_report(comparison, a, b, Settings().web_assets_dir), encoding="utf-8")
    charts, canvases, errors = _open(browser, path)
    assert charts == len(comparison.metrics) and canvases >= charts
    assert errors == []
