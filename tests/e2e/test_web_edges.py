"""Rough edges in Chromium: error pages with a way back, a banner when an htmx action fails
(under the Content-Security-Policy), Back after signing out, and the connect flow's step 2
on a phone (its table inside its card, an empty choice shown again)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import update

from metricx.models import Connection, ConnectionStatus, Provider, UserSession
from metricx.sandbox.config import SandboxConfig
from tests.e2e.test_content_security_policy import WATCH, violations
from tests.e2e.test_web_journey import shot, sign_in
from tests.e2e.web_server import WebServer, run_web_server
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e


@pytest.fixture
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(SandboxConfig(seed=9, accounts=3, days=2, frozen_clock=True))


@pytest.fixture
def web(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    yield from run_web_server(box, fresh_database("web_edges"), tmp_path)


def add_connection(web: WebServer, ws_id: str) -> str:
    with web.runtime.sessions.begin() as s:
        row = Connection(
            workspace_id=ws_id,
            provider=Provider.META,
            external_account_id="act_1001",
            name="Shoes US",
            currency="USD",
            timezone="UTC",
            status=ConnectionStatus.ACTIVE,
        )
        s.add(row)
        s.flush()
        return str(row.id)


def test_error_pages_lead_back(page: Page, web: WebServer) -> None:
    page.goto(web.base + "/no/such/page")  # a stranger: led to sign in
    expect(page.locator("#result")).to_have_text("Not found")
    page.click("#way-back")
    page.wait_for_url(f"{web.base}/login")
    ws_id = sign_in(page, web)
    for path, status, heading in (
        ("/w/not-a-uuid", 422, "That value is not valid"),
        ("/no/such/page", 404, "Not found"),
    ):
        answer = page.goto(web.base + path)
        assert answer is not None and answer.status == status
        expect(page.locator("#result")).to_have_text(heading)
        expect(page.locator(".topbar")).to_be_visible()  # the app's layout, signed in
        shot(page, f"edges-error-{status}")
        page.click("#way-back")
        page.wait_for_url(f"{web.base}/w/{ws_id}")


def test_a_failed_htmx_action_shows_a_banner(page: Page, web: WebServer) -> None:
    console: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            console.append(message.text)

    page.on("console", keep)
    page.add_init_script(WATCH)
    ws_id = sign_in(page, web)
    add_connection(web, ws_id)
    page.goto(f"{web.base}/w/{ws_id}/connections")
    expect(page.locator(".pause")).to_be_visible()
    # The session's CSRF token changes under the open page (as after signing in elsewhere).
    with web.runtime.sessions.begin() as s:
        s.execute(update(UserSession).values(csrf_token="rotated-" + "x" * 20))
    page.click(".pause")
    banner = page.locator("#action-error")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text("This form has expired; reload the page and try again.")
    expect(banner.locator(".toast-reload")).to_be_visible()
    shot(page, "edges-htmx-error")
    banner.locator(".toast-close").click()
    expect(banner).to_be_hidden()
    assert violations(page) == [] and console == []
    page.click(".pause")  # again: the banner comes back
    expect(banner).to_be_visible()
    banner.locator(".toast-reload").click()  # a fresh page carries the new token
    expect(page.locator(".pause")).to_be_visible()
    page.click(".pause")
    expect(page.locator("#notice")).to_contain_text("is paused")
    expect(banner).to_have_count(0)


def test_back_after_sign_out_does_not_show_the_dashboard(page: Page, web: WebServer) -> None:
    ws_id = sign_in(page, web)
    expect(page.locator("#workspace-switch")).to_be_visible()
    page.click("#sign-out")
    page.wait_for_url(f"{web.base}/login")
    page.go_back()
    expect(page.locator("h1")).to_have_text("Sign in")
    assert "/login" in page.url
    expect(page.locator("#workspace-switch")).to_have_count(0)
    assert page.locator("#totals").count() == 0, ws_id


def test_step_two_fits_a_phone_and_an_empty_choice_shows_it_again(
    browser: Browser, web: WebServer, box: MetaSandbox
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        ws_id = sign_in(page, web)
        page.goto(f"{web.base}/w/{ws_id}/connections")
        page.click("#connect-meta")
        page.click("#login-with-meta")
        page.click("#grant")
        page.wait_for_url(f"{web.base}/connect/meta/*")
        boxes = page.locator("input[name=account]")
        expect(boxes).to_have_count(len(box.accounts()))
        card = page.locator("main .card").bounding_box()
        table = page.locator(".table-wrap").bounding_box()
        assert card is not None and table is not None
        assert table["x"] + table["width"] <= card["x"] + card["width"] + 0.5, (table, card)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, "edges-step-two-phone")

        for i in range(boxes.count()):
            boxes.nth(i).set_checked(False)
        page.click("#connect")
        expect(page.locator("#choose-error")).to_have_text("Choose at least one ad account.")
        expect(boxes).to_have_count(len(box.accounts()))  # step 2 again, not Meta's dialog
        assert "/connect/meta/" in page.url
        boxes.first.set_checked(True)
        page.click("#connect")
        expect(page.locator("#result")).to_have_text("Connected")
    finally:
        context.close()


def test_the_live_update_stream_is_not_compressed(page: Page, web: WebServer) -> None:
    """gzip would hold the events back in its buffer: the SSE stream goes out as it is."""
    ws_id = sign_in(page, web)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    url = f"{web.base}/w/{ws_id}/events"
    with httpx.stream("GET", url, cookies=cookies, headers={"accept-encoding": "gzip"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in r.headers
        assert "event: hello" in next(r.iter_text())
    page_answer = page.request.get(f"{web.base}/w/{ws_id}", headers={"accept-encoding": "gzip"})
    assert page_answer.headers["content-encoding"] == "gzip"


# Changes a filter in the first task after a swap lands: htmx has pushed the new URL by then
# (a test's wait_for_url is over), and a person's next choice can come that soon.
CHANGE_AFTER_SWAP = """
document.body.addEventListener("htmx:afterSwap", () => setTimeout(() => {
  const select = document.getElementById("f-range");
  select.value = "14d";
  select.dispatchEvent(new Event("change", { bubbles: true }));
}, 0), { once: true });
"""


def test_a_choice_made_as_the_dashboard_swaps_is_not_lost(page: Page, web: WebServer) -> None:
    ws_id = sign_in(page, web)
    page.goto(f"{web.base}/w/{ws_id}")
    page.evaluate(CHANGE_AFTER_SWAP)
    page.select_option("#f-range", "7d")
    page.wait_for_url("**range=14d**")
    expect(page.locator("#f-range")).to_have_value("14d")
