"""The marketer's dashboard in Chromium against the sandbox: every KPI tile's change against
the previous period (its figures are the query API's for both periods, and the sandbox's truth
backs them), the year-before option and the chart's overlay kept in the URL; a token Meta
revoked shows Reconnect on the dashboard; relative times tick on an open page."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from metricx.connections.service import add_with_token
from metricx.models import Connection
from metricx.sandbox.config import SandboxConfig
from metricx.sync.service import request_sync
from tests.e2e.test_content_security_policy import WATCH, violations
from tests.e2e.test_web_journey import shot, sign_in, truth_spend, wait_for_syncs
from tests.e2e.test_web_parity import api
from tests.e2e.web_server import WebServer, run_web_server
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e
DAYS = 16  # the last 7 days and the 7 before them, and today


@pytest.fixture
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(
        SandboxConfig(
            seed=18,
            accounts=1,
            campaigns=2,
            adsets_per_campaign=1,
            ads_per_adset=2,
            days=DAYS,
            frozen_clock=True,
        )
    )


@pytest.fixture
def web(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    yield from run_web_server(box, fresh_database("web_compare"), tmp_path, sync_backfill_days=DAYS)


def connect(web: WebServer, box: MetaSandbox, ws_id: str, token: str) -> uuid.UUID:
    with web.runtime.sessions.begin() as s:
        [connection] = add_with_token(
            s,
            settings=web.runtime.settings,
            cipher=web.runtime.cipher,
            workspace_id=ws_id,  # type: ignore[arg-type]
            access_token=token,
            accounts=box.accounts()[:1],
            created_by=None,
        )
        s.flush()
        row = s.get(Connection, connection.id)
        assert row is not None
        request_sync(s, settings=web.runtime.settings, connection=row)
        return row.id


def tile(page: Page, metric: str, currency: str | None = None) -> tuple[str, str, str]:
    """A tile's value, its earlier period's value and its change (raw attributes)."""
    card = page.locator(f'.kpi[data-metric="{metric}"]')
    if currency:
        value = card.locator(f'.kpi-value[data-currency="{currency}"]')
        change = card.locator(f'.kpi-change[data-of-currency="{currency}"]')
    else:
        value, change = card.locator(".kpi-value"), card.locator(".kpi-change")
    return (
        value.get_attribute("data-value") or "",
        change.get_attribute("data-previous") or "",
        change.get_attribute("data-change") or "",
    )


def test_tiles_compare_with_the_previous_period_as_the_api_and_the_truth_say(
    page: Page, web: WebServer, box: MetaSandbox
) -> None:
    page.add_init_script(WATCH)
    ws_id = sign_in(page, web)
    connect(web, box, ws_id, box.token())
    wait_for_syncs(web, ws_id, count=1)

    page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=UTC")
    expect(page.locator(".kpi-change").first).to_be_visible()
    now = api(page, web, ws_id, preset="last_7d")
    start, end = date.fromisoformat(now["start"]), date.fromisoformat(now["end"])
    assert (end - start).days == 6
    first = date.fromordinal(start.toordinal() - 7)
    last = date.fromordinal(start.toordinal() - 1)
    before = api(page, web, ws_id, start=first.isoformat(), end=last.isoformat())
    [current_total], [before_total] = now["totals"], before["totals"]
    currency = current_total["currency"]
    account = box.accounts()[0]

    spend, spend_before, spend_change = tile(page, "spend", currency)
    assert Decimal(spend) == Decimal(current_total["spend"])
    assert Decimal(spend_before) == Decimal(before_total["spend"])
    assert truth_spend(box, account, str(start), str(end)) == (currency, Decimal(spend))
    assert truth_spend(box, account, str(first), str(last)) == (currency, Decimal(spend_before))
    ratio = (Decimal(spend) - Decimal(spend_before)) / Decimal(spend_before)
    assert abs(Decimal(spend_change) - ratio) < Decimal("1e-9")
    for metric in ("impressions", "clicks", "conversions"):
        shown, earlier, _ = tile(page, metric)
        assert Decimal(shown or "0") == Decimal(str(current_total[metric] or 0)), metric
        assert Decimal(earlier or "0") == Decimal(str(before_total[metric] or 0)), metric
    for metric in ("ctr", "roas"):
        _, earlier, _ = tile(page, metric, currency if metric == "roas" else None)
        want = before_total[metric]
        assert (earlier == "") is (want is None), metric
        if want is not None:
            assert abs(float(earlier) - float(want)) < 1e-9, metric
    shot(page, "30-dashboard-compare-previous")

    # The chart overlays the previous period (dashed), the choice kept in the URL.
    page.check("#f-overlay")
    page.wait_for_url("**overlay=1**")
    expect(page.locator("#chart .u-legend .u-series")).to_have_count(3)  # x, now, before
    expect(page.locator("#chart .u-legend")).to_contain_text(f"{first:%-d %b %Y}")
    chart = json.loads(page.locator("#chart-data").get_attribute("data-chart") or "{}")
    [dashed] = [s for s in chart["series"] if s.get("compare")]
    by_day = {p["bucket"]: float(p["spend"]) for p in before["series"] if p["spend"] is not None}
    want = [by_day.get(str(first + timedelta(days=i))) for i in range(7)]
    assert dashed["values"] == want  # day n of the week before under day n of this one
    shot(page, "31-dashboard-compare-overlay")

    # A year before: the sandbox has no such history, and the tile says so.
    page.select_option("#f-compare", "year")
    page.wait_for_url("**compare=year**")
    year = api(
        page,
        web,
        ws_id,
        start=f"{start.year - 1}{now['start'][4:]}",
        end=f"{end.year - 1}{now['end'][4:]}",
    )
    assert year["totals"] == [] or not Decimal(year["totals"][0]["spend"] or "0")
    expect(
        page.locator(f'.kpi[data-metric="spend"] .kpi-change[data-of-currency="{currency}"]')
    ).to_contain_text("no figure before")
    page.reload()  # the choices survive a reload (they are the URL)
    expect(page.locator("#f-compare")).to_have_value("year")
    expect(page.locator("#f-overlay")).to_be_checked()
    assert violations(page) == []


def test_a_revoked_token_shows_reconnect_on_the_dashboard(
    page: Page, web: WebServer, box: MetaSandbox
) -> None:
    page.add_init_script(WATCH)
    ws_id = sign_in(page, web)
    token = box.token()
    connection_id = connect(web, box, ws_id, token)
    wait_for_syncs(web, ws_id, count=1)
    page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=UTC")
    item = page.locator(f'.fresh-item[data-connection="{connection_id}"]')
    expect(item).to_have_attribute("data-state", "fresh")
    expect(item.locator(".reconnect")).to_have_count(0)
    expect(page.locator("body")).to_have_attribute("data-live", "on")  # watching for changes

    box.revoke(token)  # the user removed the app in Meta: the next sync learns it
    with web.runtime.sessions.begin() as s:
        row = s.get(Connection, connection_id)
        assert row is not None
        request_sync(s, settings=web.runtime.settings, connection=row)
    # The open page learns it live (the workspace's change marker moves): no reload.
    expect(item).to_have_attribute("data-state", "reauth", timeout=60_000)
    expect(item.locator(".dot")).to_have_class("dot dot-bad")
    expect(item).to_contain_text("Needs reconnecting")
    reconnect = item.locator("a.reconnect")
    expect(reconnect).to_have_text("Reconnect")
    shot(page, "32-dashboard-reconnect")
    reconnect.click()
    page.wait_for_url(f"**/w/{ws_id}/connections#conn-{connection_id}")
    expect(page.locator(f"#conn-{connection_id} .reconnect")).to_be_visible()
    latest = page.request.get(f"{web.base}/api/v1/workspaces/{ws_id}/metrics/latest").json()
    [one] = latest["freshness"]
    assert one["attention"] == "reauth"  # the API says what the page says
    assert violations(page) == []


def test_relative_times_tick_on_an_open_page(page: Page, web: WebServer, box: MetaSandbox) -> None:
    page.add_init_script(WATCH)
    ws_id = sign_in(page, web)
    connect(web, box, ws_id, box.token())
    wait_for_syncs(web, ws_id, count=1)
    page.clock.install()  # the page's own clock, moved by the test (its timers too)
    page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=UTC")
    updated = page.locator("#last-updated time[data-relative]")
    newest = page.locator(".fresh-item time[data-relative]").first
    expect(updated).to_be_visible()
    before, newest_before = updated.text_content(), newest.text_content()
    assert before in ("just now", "1 min ago"), before

    page.clock.fast_forward("07:00")  # seven minutes pass with the page open
    expect(updated).not_to_have_text(before or "", timeout=5_000)
    assert updated.text_content() in ("7 min ago", "8 min ago")
    page.clock.fast_forward(3_600_000)  # an hour more: the newest hour has aged past any hour
    expect(updated).to_have_text("1 h ago", timeout=5_000)
    expect(newest).not_to_have_text(newest_before or "", timeout=5_000)
    assert "min old" in (newest.text_content() or "")
    assert violations(page) == []
