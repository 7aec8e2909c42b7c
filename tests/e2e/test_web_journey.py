"""The web app in Chromium against the Meta sandbox: sign in, connect two accounts through
the Meta dialog, the first sync, dashboard totals equal to the sandbox's truth, a new hour
arriving live over SSE, drill-down, disconnect; denied consent; an expired token fixed by
reconnecting. Screenshots of every page land in test-artifacts/screenshots/."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from metricx.models import Connection, Fetch, RunStatus, Token
from metricx.sandbox.config import SandboxConfig
from tests.e2e.web_server import SHOTS, WebServer, run_web_server
from tests.factories import PASSWORD, make_user, make_workspace
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e
DAYS = 3


@pytest.fixture
def box() -> Iterator[MetaSandbox]:
    # One sandbox per test: a journey's clock moves, usage score and late syncs must not
    # reach the next test's consent and account listing.
    yield from sandbox_fixture(
        SandboxConfig(
            seed=21,
            accounts=3,
            campaigns=2,
            adsets_per_campaign=2,
            ads_per_adset=2,
            days=DAYS,
            frozen_clock=True,
        )
    )


@pytest.fixture
def web(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    yield from run_web_server(
        box,
        fresh_database("web_e2e"),
        tmp_path,
        sync_backfill_days=DAYS,
        web_live_poll_seconds=0.5,
    )


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, web: WebServer, timezone: str = "UTC") -> str:
    with web.runtime.sessions.begin() as s:
        user = make_user(s)
        ws_id = str(make_workspace(s, owner=user, timezone=timezone).id)
        email = user.email
    page.goto(web.base + "/")
    expect(page.locator("h1")).to_have_text("Sign in")
    shot(page, "01-sign-in")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{web.base}/w/{ws_id}")
    return ws_id


def connect_through_meta(page: Page, web: WebServer, box: MetaSandbox, ws_id: str) -> list[str]:
    page.goto(f"{web.base}/w/{ws_id}/connections")
    page.click("#connect-meta")
    expect(page.locator("#connect-dialog")).to_be_visible()
    shot(page, "03-connect-dialog")
    page.click("#login-with-meta")
    page.wait_for_url(f"{box.url}/**")  # Meta's (the sandbox's) consent dialog
    shot(page, "04-meta-consent")
    page.click("#grant")
    page.wait_for_url(f"{web.base}/connect/meta/*")
    wanted = box.accounts()[:2]
    boxes = page.locator("input[name=account]")
    for i in range(boxes.count()):
        boxes.nth(i).set_checked(boxes.nth(i).get_attribute("value") in wanted)
    shot(page, "05-choose-accounts")
    page.click("#connect")
    expect(page.locator("#result")).to_have_text("Connected")
    for account in wanted:
        expect(page.locator("#connected-accounts")).to_contain_text(account)
    shot(page, "06-connected")
    return wanted


def wait_for_syncs(web: WebServer, ws_id: str, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with web.runtime.sessions() as s:
            rows = s.scalars(
                select(Fetch).where(Fetch.workspace_id == ws_id, Fetch.kind != "entities")
            ).all()
            done = [f for f in rows if f.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)]
            if len(done) >= count and len(done) == len(rows):
                pin_today(web)
                return
        time.sleep(0.5)
    raise AssertionError(f"syncs did not finish: {[(f.kind, f.status) for f in rows]}")


def pin_today(web: WebServer) -> None:
    """Stop the dashboard's clock at this moment: a test compares pages and API answers for
    "last 7 days" asked at different moments, and an account's midnight (UTC's, Berlin's,
    Los Angeles') passing between them would move the range under the test."""
    at = datetime.now(UTC)
    web.runtime.clock = lambda: at


def truth_spend(box: MetaSandbox, account: str, since: str, until: str) -> tuple[str, Decimal]:
    body = box.http.get(
        "/_sandbox/truth",
        params={
            "account_id": account,
            "level": "account",
            "granularity": "day",
            "since": since,
            "until": until,
        },
    ).json()
    return body["currency"], sum((Decimal(r["spend"]) for r in body["rows"]), Decimal(0))


def dashboard_spend(page: Page, currency: str) -> Decimal:
    cell = page.locator(f"#totals [data-metric=spend] [data-currency={currency}]")
    return Decimal(cell.get_attribute("data-value") or "0")


def test_sign_in_connect_sync_dashboard_live_drill_disconnect(
    page: Page, web: WebServer, box: MetaSandbox
) -> None:
    ws_id = sign_in(page, web)
    shot(page, "02-empty-dashboard")
    accounts = connect_through_meta(page, web, box, ws_id)
    page.click("#to-connections")
    expect(page.locator(".account")).to_have_count(2)
    wait_for_syncs(web, ws_id, count=2)
    page.reload()
    expect(page.locator(".last-success").first).not_to_have_text("not yet")
    shot(page, "07-connections-synced")

    info = {a["id"]: a for a in box.info()["accounts"]}
    for account in accounts:
        tz = info[account]["timezone_name"]
        today = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo(tz)).date()
        since = (today - timedelta(days=DAYS - 1)).isoformat()
        currency, spend = truth_spend(box, account, since, today.isoformat())
        page.goto(
            f"{web.base}/w/{ws_id}?range=custom&start={since}&end={today}&granularity=day&tz={tz}"
        )
        assert dashboard_spend(page, currency) == spend, (account, currency)
    shot(page, "08-dashboard")

    # A new hour arrives: the sandbox moves on, a sync lands it, the open page updates itself.
    page.goto(f"{web.base}/w/{ws_id}?range=today&granularity=hour&tz=UTC")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    before = page.locator("#totals").inner_text()
    box.advance(3600)
    csrf = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    with web.runtime.sessions() as s:
        ids = [
            str(c.id) for c in s.scalars(select(Connection).where(Connection.workspace_id == ws_id))
        ]
    for cid in ids:
        answer = page.request.post(
            f"{web.base}/api/v1/workspaces/{ws_id}/connections/{cid}/sync",
            headers={"X-CSRF-Token": csrf},
        )
        assert answer.ok, answer.text()
    expect(page.locator("body")).to_have_attribute(
        "data-last-refresh", __import__("re").compile(r"\d+"), timeout=60_000
    )
    expect(page.locator("#totals")).not_to_have_text(before, timeout=60_000)
    assert page.url.endswith("tz=UTC")  # no reload happened: the page updated in place
    shot(page, "09-dashboard-live-update")
    # The page updated when the first of the two syncs landed; the second one's refresh must
    # not land in the middle of the drill-down below (it re-renders the campaign view).
    wait_for_syncs(web, ws_id, count=4)

    # Drill-down: campaign -> ad set -> ad.
    page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=UTC")
    page.locator("a.drill").first.click()
    expect(page.locator(".crumbs")).to_contain_text("Campaign:")
    # The ad set table is in place (and htmx has taken its links) before the next click; on a
    # loaded machine the swap and a full render can each take seconds.
    expect(page.locator("#breakdown thead th").first).to_contain_text("Ad set")
    page.wait_for_function("() => document.querySelector('a.drill')?.['htmx-internal-data']")
    page.locator("a.drill").first.click()
    expect(page.locator(".crumbs")).to_contain_text("Ad set:", timeout=20_000)
    expect(page.locator("#breakdown thead th").first).to_contain_text("Ad")
    shot(page, "10-drill-down-ads")

    page.goto(f"{web.base}/w/{ws_id}/health")
    expect(page.locator("#fetches")).to_be_visible()
    shot(page, "11-data-health")

    page.goto(f"{web.base}/w/{ws_id}/connections")
    page.once("dialog", lambda d: d.accept())
    page.locator(".disconnect").first.click()
    expect(page.locator("#notice")).to_contain_text("is disconnected")
    expect(page.locator(".token-status", has_text="Disconnected")).to_have_count(1)
    shot(page, "12-disconnected")


def test_denied_consent_leads_back_to_connections_to_try_again(
    page: Page, web: WebServer, box: MetaSandbox
) -> None:
    ws_id = sign_in(page, web)
    page.goto(f"{web.base}/w/{ws_id}/connections")
    page.click("#connect-meta")
    page.click("#login-with-meta")
    page.click("#cancel")
    # (Meta, and the sandbox, add "#_=_" to the address it sends the browser back to)
    page.wait_for_url(re.compile(re.escape(f"{web.base}/w/{ws_id}/connections?connect=cancelled")))
    expect(page.locator("#connect-notice")).to_contain_text("cancelled")
    shot(page, "13-consent-denied")
    page.click("#connect-again")  # the way to try again: Meta's dialog once more
    expect(page.locator("#connect-dialog")).to_be_visible()
    page.click("#login-with-meta")
    page.click("#grant")
    page.wait_for_url(f"{web.base}/connect/meta/*")
    expect(page.locator("input[name=account]").first).to_be_visible()


def test_expired_token_says_reconnect_and_reconnecting_fixes_it(
    page: Page, web: WebServer, box: MetaSandbox
) -> None:
    ws_id = sign_in(page, web)
    accounts = connect_through_meta(page, web, box, ws_id)
    with web.runtime.sessions.begin() as s:
        s.execute(update(Token).values(expires_at=datetime.now(UTC) - timedelta(hours=1)))
    page.goto(f"{web.base}/w/{ws_id}/connections")
    card = page.locator(f"[data-account='{accounts[0]}']")
    expect(card.locator(".token-status")).to_have_text("Expired \u2013 reconnect")
    shot(page, "14-token-expired")
    card.locator(".reconnect").click()
    page.click("#grant")
    page.wait_for_url(f"{web.base}/connect/meta/*")
    page.click("#connect")
    expect(page.locator("#result")).to_have_text("Connected")
    page.click("#to-connections")
    expect(card.locator(".token-status")).to_have_text("Connected")
    shot(page, "15-reconnected")
