"""Intelligence in a real browser: an officer confirms the suggested scam type on the case page
(the driving words and confidence shown, the risk table adding up), and the centre reads the
fraudster contacts ranked on /intel and downloads the export."""

from __future__ import annotations

from playwright.sync_api import expect

from quanzu.worker.runner import Worker
from tests.web.conftest import DESKTOP, PHONE, Web

RING = [{"kind": "phone", "value": "+852 5123 4567"}]


def test_officer_confirms_the_suggested_type_on_the_case_page(web: Web) -> None:
    case_id = web.post_warning(
        scam_type="other",
        description="对方自称公安，说他涉嫌洗钱被通缉，要求把钱转到安全账户",
        scam_contacts=RING,
    )
    officer = web.page(PHONE, user="sl-d1")
    officer.goto(f"/cases/{case_id}")
    panel = officer.locator("#intel-panel")
    suggestion = panel.locator("#intel-suggestion")
    expect(suggestion).to_contain_text("冒充公检法")
    expect(suggestion).to_contain_text("置信度")
    expect(suggestion.locator(".badge.grey", has_text="安全账户")).to_be_visible()
    expect(panel.locator("#intel-scam-type")).to_have_text("其他")
    score = int(panel.locator("#intel-risk-score").inner_text())
    points = [int(t.strip("+")) for t in panel.locator("table.factors tbody td.num").all_inner_texts()[:-1]]
    assert sum(points) == score
    expect(panel).to_contain_text("要说")
    web.shot(officer, "case-intel-phone")
    panel.locator("#intel-confirm").click()
    expect(panel.locator(".flash")).to_have_text("已保存")
    # The same commit announces a live event that refreshes the panel: the confirmation survives it.
    officer.evaluate(
        """id => new Promise(done => {
            document.body.addEventListener("htmx:afterSettle", e => {
                if (e.detail.target.id === "intel-panel") done();
            });
            htmx.trigger(document.body, "quanzu:case-" + id);
        })""",
        case_id,
    )
    expect(panel.locator(".flash")).to_have_text("已保存")
    expect(panel.locator("#intel-scam-type")).to_have_text("冒充公检法")
    expect(panel.locator("#intel-suggestion")).to_have_count(0)
    assert web.case(case_id)["scam_type"] == "impersonate_authority"
    web.assert_no_js_errors()


def test_the_centre_ranks_and_exports_fraudster_contacts(web: Web) -> None:
    web.post_warning(scam_contacts=RING, amount_at_risk="20000.00")
    web.post_warning(scam_contacts=[*RING, {"kind": "qq", "value": "88886666"}], amount_at_risk="5000.00")
    worker: Worker = web.env.app.state.worker
    assert worker.fire_timers() == 2  # the worker records the contacts just after intake
    centre = web.page(DESKTOP, user="centre")
    centre.goto("/intel")
    rows = centre.locator("#intel-ranking tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("+85*****4567")  # masked on the page
    expect(rows.first.locator("td.num").first).to_have_text("2")
    web.shot(centre, "intel-desktop")
    with centre.expect_download() as download:
        centre.locator("#intel-export-xlsx").click()
    assert download.value.suggested_filename.startswith("fraud-contacts-")
    web.assert_no_js_errors()
