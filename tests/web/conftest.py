"""Browser plumbing: one headless Chromium per pytest worker, a fresh context per page, the app on
`live_server` (so on both databases), people signing in through the real /login form."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize, sync_playwright
from sqlalchemy import select, update

from quanzu.kit.db import transaction
from quanzu.models.org import User
from quanzu.org.service import add_user
from quanzu.web.edge import AppState
from tests.conftest import Env, LiveServer
from tests.factories import ORG, PASSWORD, District, bearer, id_number, seed, warning

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (scripts/ensure-chromium.sh); never a download
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1280, height=900)
ARTIFACTS = Path(__file__).parent / "artifacts"  # screenshots of every run; not committed
SIGNS_IN = ("centre", "sl-d1", "sl-leader-day")  # people of tests.factories.ORG these tests sign in as
SL_TARGET = {"address": "江苏省苏州市吴江区松陵街道流虹路88号", "phone": "13962510001"}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("no Chromium at /usr/bin/chromium: run scripts/ensure-chromium.sh (make test does)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    """For checks of what the browser shows, which does not depend on the database: requested
    before `web`, so the PostgreSQL run skips before seeding anything."""
    if database_url.startswith("postgresql"):
        pytest.skip("page rendering check: the SQLite run covers it")


@dataclass
class Web:
    """One test's browser session against the live app, plus the API as the other actors use it."""

    env: Env
    server: LiveServer
    browser: Browser
    district: District
    contexts: list[BrowserContext] = field(default_factory=list)
    js_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    _serial: int = 0

    # --- pages ---------------------------------------------------------------------------------

    def page(self, viewport: ViewportSize = PHONE, *, user: str | None = None) -> Page:
        """A new browser context (own cookies) showing the app; signed in as `user` if given."""
        context = self.browser.new_context(
            base_url=self.server.url,
            viewport=viewport,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            service_workers="block",
        )
        # The app's clock is a FakeClock: the page's countdowns measure against the same instant.
        context.clock.set_fixed_time(self.env.clock.now())
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.js_errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda message: self._note_csp_violation(page, message))
        if user is not None:
            self.login(page, user)
        return page

    def login(self, page: Page, username: str, password: str = PASSWORD, *, navigate: bool = True) -> None:
        """Through the real form; `navigate=False` when the page already shows it (a redirect)."""
        if navigate:
            page.goto("/login")
        page.locator("#username").fill(username)
        page.locator("#password").fill(password)
        with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/login")):
            page.get_by_role("button", name="登录").click()
        page.wait_for_load_state()  # the page the answer leads to (home, the deep link, or the form)

    def wait_live(self, username: str, streams: int = 1) -> None:
        """Blocks until `username` has an open event stream (the page subscribes after it loads),
        so an event published next cannot slip past it. Polls the server's hub; no fixed sleep."""
        with self.env.reader() as session:
            user_id = session.scalar(select(User.id).where(User.username == username))
        assert user_id is not None
        hub = self.state.hub
        deadline = time.monotonic() + 10
        while hub.connected(user_id) < streams:
            assert time.monotonic() < deadline, f"{username}'s page never opened /api/v1/events"
            threading.Event().wait(0.02)

    def shot(self, page: Page, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path

    def assert_no_js_errors(self) -> None:
        assert self.js_errors == [], self.js_errors
        assert self.csp_violations == [], self.csp_violations

    def _note_csp_violation(self, page: Page, message: ConsoleMessage) -> None:
        """Chromium reports what the Content-Security-Policy refused on the console; every browser
        test fails on one (the `web` fixture checks after each test)."""
        if message.type == "error" and "Content Security Policy" in message.text:
            where = message.location  # the script and line that tried it
            self.csp_violations.append(
                f"{page.url} ({where.get('url')}:{where.get('lineNumber')}): {message.text}"
            )

    # --- the API, as feeds and other officers use it --------------------------------------------

    @property
    def state(self) -> AppState:
        app_state: AppState = self.env.app.state.quanzu
        return app_state

    def post_warning(self, **overrides: Any) -> int:
        """A warning from the national feed for a target in 松陵 (station SL); returns the case id."""
        self._serial += 1
        target = {**SL_TARGET, "id_number": id_number("19660606", f"{self._serial:03d}")}
        target.update(overrides.pop("target", {}))
        body = warning(f"WEB-{self._serial:04d}", target=target, **overrides)
        r = self.env.client.post("/api/v1/warnings", json=body, headers=bearer(self.district.feed_token))
        assert r.status_code == 201, r.text
        case_id: int = r.json()["case_id"]
        return case_id

    def api(self, user: str, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        response: httpx.Response = self.env.client.request(
            method, f"/api/v1{path}", json=body, headers=bearer(self.district.tokens[user])
        )
        return response

    def case(self, case_id: int, user: str = "centre") -> dict[str, Any]:
        r = self.api(user, "GET", f"/cases/{case_id}")
        assert r.status_code == 200, r.text
        detail: dict[str, Any] = r.json()
        return detail


@pytest.fixture
def web(env: Env, live_server: LiveServer, browser: Browser) -> Iterator[Web]:
    district = seed(env)
    with transaction(env.factory) as session:
        # Everyone these tests sign in as gets factories.PASSWORD; its hash is taken from a person
        # who has it already (argon2 is slow on purpose, and these tests are about pages).
        hashed = session.scalar(select(User.password_hash).where(User.username == "centre"))
        for person in ORG["users"]:
            if person["username"] in SIGNS_IN and "password" not in person:
                add_user(session, env.rt, person)
                session.execute(
                    update(User).where(User.username == person["username"]).values(password_hash=hashed)
                )
    w = Web(env=env, server=live_server, browser=browser, district=district)
    yield w
    for context in w.contexts:  # before the server stops: the event streams end with them
        context.close()
    assert w.csp_violations == [], f"the pages broke their Content-Security-Policy: {w.csp_violations}"
