"""The pages work under their Content-Security-Policy in Chromium: signing in, the dashboard
with its uPlot chart and htmx filters, the connect dialog, data health and the account page
run without one violation reported by the browser."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from metricx.auth.service import create_api_key
from metricx.sandbox.config import SandboxConfig
from tests.e2e.web_server import WebServer, run_web_server
from tests.factories import PASSWORD, make_user, make_workspace
from tests.ingest.helpers import fact, make_connection
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e

# Reported by the page itself for every blocked script, style, image, frame or connection.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile);
});
"""


@pytest.fixture
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(SandboxConfig(seed=5, accounts=1, days=2, frozen_clock=True))


@pytest.fixture
def web(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    yield from run_web_server(box, fresh_database("web_csp"), tmp_path)


def violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__csp || []")
    return found


def test_pages_run_without_a_policy_violation(page: Page, web: WebServer) -> None:
    console: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            console.append(message.text)

    page.on("console", keep)
    page.add_init_script(WATCH)
    with web.runtime.sessions.begin() as s:
        user = make_user(s)
        ws = make_workspace(s, owner=user)
        ws_id, email = str(ws.id), user.email
        key = create_api_key(s, workspace_id=ws.id).key
        connection_id = str(make_connection(s, ws.id).id)  # the dashboard charts accounts
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    records = [
        fact(f"c-{i % 3}", level="campaign", event_at=(now - timedelta(hours=h)).isoformat())
        for i, h in enumerate(range(1, 48, 3))
    ]
    pushed = page.request.post(
        f"{web.base}/api/v1/workspaces/{ws_id}/metrics/ingest?connection_id={connection_id}",
        data={"records": records},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert pushed.ok, pushed.text()

    page.goto(web.base + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{web.base}/w/{ws_id}")
    expect(page.locator("#chart canvas").first).to_be_visible()  # uPlot drew the series
    assert violations(page) == []

    # An htmx swap (a filter change) redraws the chart in place.
    page.select_option("#filters select[name=granularity]", "hour")
    expect(page.locator("#chart canvas").first).to_be_visible()
    assert page.locator("#chart").get_attribute("class") is not None
    assert violations(page) == []

    page.goto(f"{web.base}/w/{ws_id}/connections")
    page.click("#connect-meta")
    expect(page.locator("#connect-dialog")).to_be_visible()
    assert violations(page) == []

    for path in (f"/w/{ws_id}/health", "/account"):
        page.goto(web.base + path)
        expect(page.locator("h1").first).to_be_visible()
        assert violations(page) == [], path
    assert console == []
