"""The warning race in a real browser: an officer asks a guard from the case page, the guard
answers on the one-time link page (no account), the officer's page shows it live."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.helpers.common import load_guards
from tests.web.conftest import PHONE, Web


def test_officer_asks_a_guard_who_answers_through_the_link(web: Web) -> None:
    load_guards(web.env)
    case_id = web.post_warning(
        target={
            "name": "张建国",
            "gender": "male",
            "employer": "江苏恒力化纤股份有限公司",
            "address": "江苏省苏州市吴江区松陵街道流虹社区鲈乡南路8号",
        }
    )
    officer = web.page(PHONE, user="sl-d1")
    officer.goto(f"/cases/{case_id}")
    panel = officer.locator("#helpers-panel")
    first = panel.locator("li.candidate").first
    expect(first).to_contain_text("同单位反诈卫士")
    first.locator("input[type=checkbox]").check()
    panel.get_by_role("button", name="发送协助请求").click()
    expect(panel.locator(".flash")).to_have_text("已发送")
    link = panel.locator(".links code").first.inner_text()
    path = "/h/" + link.rsplit("/h/", 1)[1]
    expect(panel.locator("#help-requests li").first).to_contain_text("已发送")
    web.wait_live("sl-d1")

    helper = web.page(PHONE)  # no sign-in: the link is the credential
    helper.goto(path)
    expect(helper.locator("header.top")).to_have_count(0)  # no menu, nothing but the brief
    expect(helper.locator("#greeting")).to_have_text("张先生")
    expect(helper.locator("#masked-phone")).to_have_text("139****0001")
    expect(helper.locator("#place")).to_contain_text("流虹社区")
    expect(helper.locator("#script")).to_contain_text("刷单返利")
    web.shot(helper, "helper-link-phone")
    helper.get_by_label("已见到本人，已劝住（停止转账）").check()
    helper.locator("#note").fill("在车间见到本人，已停止转账")
    helper.get_by_role("button", name="提交反馈").click()
    expect(helper.locator("#thanks")).to_be_visible()

    # The officer's page heard it at once: the first to reach is marked.
    expect(panel.locator("#help-requests li.first-reach")).to_contain_text("首个到达")
    expect(panel.locator("#help-requests")).to_contain_text("已见到本人，已劝住")
    web.shot(officer, "case-helpers-phone")

    helper.goto(path)  # the link is used up
    expect(helper.locator("#refusal")).to_have_attribute("data-reason", "answered")
    assert re.search(r"已经反馈过", helper.content())
    web.assert_no_js_errors()
