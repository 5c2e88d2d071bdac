"""The pages of the review and reports issue in Chromium: the follow-up list and a callback,
the centre's review queue, the chief's accountability notice, station scorecards, training, and
the daily briefing (日报) — each loaded as the role that uses it, its main action done, the result
checked on the page and through the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from quanzu.kit.db import transaction
from quanzu.models.org import User
from quanzu.worker.runner import Worker
from tests.web.conftest import DESKTOP, PHONE, Web

REVERSE = [{"kind": "phone", "value": "+852 5123 4567"}]


def fire(web: Web) -> int:
    worker: Worker = web.env.app.state.worker
    return worker.fire_timers()


def signs_in(web: Web, username: str) -> None:
    """Gives `username` the password the other people these tests sign in as have."""
    with transaction(web.env.factory) as s:
        hashed = s.scalar(select(User.password_hash).where(User.username == "centre"))
        s.execute(update(User).where(User.username == username).values(password_hash=hashed))


def step(web: Web, case_id: int, kind: str, outcome: str | None = None, minutes: float = 1) -> None:
    web.env.clock.advance(timedelta(minutes=minutes))
    body = {"kind": kind} | ({"outcome": outcome} if outcome else {})
    r = web.api("sl-d1", "POST", f"/cases/{case_id}/steps", body)
    assert r.status_code == 200, r.text


def dissuaded_at_a_meeting(web: Web) -> int:
    """A high-risk case dissuaded face to face (¥50,000): a follow-up plan starts."""
    case_id = web.post_warning(risk_level="high", amount_at_risk="50000.00")
    step(web, case_id, "sign")
    step(web, case_id, "phone", "answered")
    step(web, case_id, "face_to_face", "dissuaded", minutes=10)
    body = {"outcome": "dissuaded", "amount_protected": "50000.00", "reverse_check": REVERSE}
    assert web.api("sl-d1", "POST", f"/cases/{case_id}/close", body).status_code == 200
    return case_id


def lost_after_a_late_sign(web: Web) -> int:
    """A high-risk case signed after its 5-minute deadline, then lost: the review fails it."""
    case_id = web.post_warning(risk_level="high")
    web.env.clock.advance(timedelta(minutes=10))
    fire(web)
    step(web, case_id, "sign", minutes=0)
    step(web, case_id, "phone", "answered")
    body = {"outcome": "lost", "amount_lost": "8000.00", "reverse_check": REVERSE}
    assert web.api("sl-d1", "POST", f"/cases/{case_id}/close", body).status_code == 200
    return case_id


def test_the_officer_records_a_due_callback_from_the_follow_up_list(web: Web) -> None:
    case_id = dissuaded_at_a_meeting(web)
    web.env.clock.advance(timedelta(days=3))  # high risk: the first callback is on day 3
    page = web.page(PHONE, user="sl-d1")
    page.goto("/followups")
    row = page.locator("section.followups-due li", has_text=f"#{case_id}")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("应回访")
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}#callback-\d+$"))
    callback = page.locator("#followups-panel li.callback").first
    callback.locator("input[name=note]").fill("本人已卸载投资APP")
    callback.get_by_role("button", name="记录回访").click()
    expect(page.locator("#followups-panel li.callback").first).to_contain_text("已回访（联系上）")
    expect(page.locator("#followups-panel li.callback").first).to_contain_text("本人已卸载投资APP")
    plan = web.api("sl-d1", "GET", f"/cases/{case_id}/followups").json()["plan"]
    assert plan["callbacks"][0]["reached"] is True
    page.goto("/followups")
    expect(page.locator("section.followups-due li", has_text=f"#{case_id}")).to_have_count(0)
    web.assert_no_js_errors()


def test_the_centre_confirms_a_review_and_the_chief_acknowledges_the_notice(web: Web) -> None:
    late = lost_after_a_late_sign(web)
    signs_in(web, "sl-chief")
    centre = web.page(DESKTOP, user="centre")
    centre.goto("/review")
    card = centre.locator("li.review", has_text=f"#{late}")
    expect(card.locator("tr.item-failed")).to_contain_text("签收")
    card.get_by_role("button", name="提交复查").click()
    decided = centre.locator("li.review", has_text=f"#{late}")
    expect(decided.locator(".flash")).to_have_text("已保存")
    expect(decided).to_contain_text("已确认")
    expect(decided.get_by_role("link", name=re.compile("已发问责通知"))).to_be_visible()

    chief = web.page(DESKTOP, user="sl-chief")
    chief.goto("/notices")
    notice = chief.locator("li.notice", has_text=f"#{late}")
    expect(notice).to_contain_text("待签收")
    notice.locator("textarea[name=response]").fill("已组织签收流程培训")
    notice.get_by_role("button", name="签收").click()
    done = chief.locator("li.notice", has_text=f"#{late}")
    expect(done).to_contain_text("已签收")
    expect(done).to_contain_text("已组织签收流程培训")
    notices = web.api("sl-chief", "GET", "/notices").json()
    assert [(n["case_id"], n["state"]) for n in notices] == [(late, "acknowledged")]
    web.assert_no_js_errors()


def test_scorecards_show_the_stations_compliance(web: Web) -> None:
    dissuaded_at_a_meeting(web)
    lost_after_a_late_sign(web)
    centre = web.page(DESKTOP, user="centre")
    centre.goto("/scorecards")
    centre.locator("#from").fill("2026-11-28")
    centre.locator("#to").fill("2026-11-28")
    centre.get_by_role("button", name="查询").click()
    expect(centre).to_have_url(re.compile(r"from=2026-11-28"))
    row = centre.locator("table.scorecards tbody tr", has_text="松陵派出所")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("2")  # two cases
    expect(row.locator("td").nth(2)).to_have_text("2")  # both closed
    expect(row.locator("td").nth(4)).to_have_text("50.0%")  # one sign clock of two on time
    web.assert_no_js_errors()


def test_the_centre_records_a_training_course(web: Web) -> None:
    centre = web.page(DESKTOP, user="centre")
    centre.goto("/training")
    centre.locator("#t-user").select_option("sl-d1")
    centre.locator("#t-course").fill("劝阻话术与心理疏导")
    centre.locator("#t-date").fill("2026-11-20")
    centre.locator("#t-result").select_option("score")
    centre.locator("#t-score").fill("92")
    centre.get_by_role("button", name="登记培训").click()
    expect(centre.locator("tbody tr", has_text="劝阻话术与心理疏导")).to_contain_text("92")
    records = web.api("centre", "GET", "/training").json()
    assert [(t["course"], t["score"]) for t in records] == [("劝阻话术与心理疏导", 92)]
    web.assert_no_js_errors()


def test_the_daily_briefing_page_regenerates_and_is_scoped(web: Web) -> None:
    dissuaded_at_a_meeting(web)
    lost_after_a_late_sign(web)
    web.env.clock.set(datetime(2026, 11, 29, 1, 0, tzinfo=UTC))  # 09:00 the next morning
    signs_in(web, "sl-chief")
    centre = web.page(DESKTOP, user="centre")
    centre.goto("/briefings")  # yesterday, the district, computed live
    expect(centre.locator("h1")).to_contain_text("全区")
    expect(centre.locator("h1")).to_contain_text("2026-11-28")
    expect(centre.locator('[data-figure="dissuaded"]')).to_have_text("1")
    expect(centre.locator('[data-figure="money_protected"]')).to_have_text("50,000.00")
    expect(centre.locator(".briefing img.chart")).to_have_count(2)
    expect(centre.locator("table.briefing-list .empty")).to_be_visible()
    centre.get_by_role("button", name="重新生成").click()
    expect(centre.locator(".flash")).to_have_text("已生成")
    expect(centre.locator("table.briefing-list tbody tr")).to_have_count(1)
    expect(centre.locator("table.briefing-list")).to_contain_text("全区")
    with centre.expect_download() as download:
        centre.get_by_role("link", name="PDF").click()
    assert download.value.suggested_filename == "briefing-district-2026-11-28.pdf"

    chief = web.page(DESKTOP, user="sl-chief")
    chief.goto("/briefings?day=2026-11-28")
    expect(chief.locator("h1")).to_contain_text("松陵派出所")
    expect(chief.locator('[data-figure="lost"]')).to_have_text("1")
    response = chief.goto("/briefings?day=2026-11-28&station=SZ")
    assert response is not None and response.status == 404
    web.assert_no_js_errors()


@pytest.mark.usefixtures("sqlite_only")
def test_screenshots_of_the_issue_6_pages(web: Web) -> None:
    dissuaded_at_a_meeting(web)
    lost_after_a_late_sign(web)
    web.env.clock.set(datetime(2026, 11, 29, 1, 0, tzinfo=UTC))
    page = web.page(DESKTOP, user="centre")
    for path, name in (
        ("/briefings", "briefing"),
        ("/review?state=all", "review"),
        ("/scorecards", "scorecards"),
    ):
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        shot_page(web, page, name)


def shot_page(web: Web, page: Page, name: str) -> None:
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        web.shot(page, f"{name}-{size}")
