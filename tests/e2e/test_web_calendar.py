"""The dashboard on Ads Manager's calendar, in Chromium against the Meta sandbox: a workspace in
New York with a Los Angeles account (behind it) and a Berlin account (ahead of it). Day labels,
Yesterday and Last 7 days show each account's own days, with Meta's figures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from metricx.sandbox.config import SandboxConfig
from tests.e2e.test_web_journey import connect_through_meta, shot, sign_in, wait_for_syncs
from tests.e2e.web_server import WebServer, run_web_server
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e
DAYS = 10


@pytest.fixture
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(
        SandboxConfig(
            seed=33,
            accounts=2,  # Los Angeles (USD) and Berlin (EUR)
            campaigns=2,
            adsets_per_campaign=1,
            ads_per_adset=2,
            days=DAYS,
            frozen_clock=True,
        )
    )


@pytest.fixture
def web(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    yield from run_web_server(box, fresh_database("web_cal"), tmp_path, sync_backfill_days=DAYS)


def truth_by_day(box: MetaSandbox, account: str, since: date, until: date) -> dict[date, Decimal]:
    body = box.http.get(
        "/_sandbox/truth",
        params={
            "account_id": account,
            "level": "account",
            "granularity": "day",
            "since": since.isoformat(),
            "until": until.isoformat(),
        },
    ).json()
    out = {since + timedelta(days=i): Decimal(0) for i in range((until - since).days + 1)}
    for row in body["rows"]:
        out[date.fromisoformat(row["date"])] += Decimal(row["spend"])
    return out


def kpi_spend(page: Page, currency: str) -> Decimal:
    cell = page.locator(f"#totals [data-metric=spend] [data-currency={currency}]")
    return Decimal(cell.get_attribute("data-value") or "0")


def test_dashboard_days_are_each_accounts_own(page: Page, web: WebServer, box: MetaSandbox) -> None:
    ws_id = sign_in(page, web, timezone="America/New_York")
    accounts = connect_through_meta(page, web, box, ws_id)
    wait_for_syncs(web, ws_id, count=2)
    # The page's "today" is the sandbox's (frozen) now: no midnight can pass between the two.
    now = datetime.fromisoformat(box.info()["now"])
    web.runtime.clock = lambda: now
    info = {a["id"]: a for a in box.info()["accounts"]}
    local = {
        info[a]["currency"]: (a, now.astimezone(ZoneInfo(info[a]["timezone_name"])).date())
        for a in accounts
    }
    assert set(local) == {"USD", "EUR"}

    # Yesterday at Day granularity: each account's own yesterday, never a part of its today.
    page.goto(f"{web.base}/w/{ws_id}?range=yesterday&granularity=day")
    shot(page, "cal-01-yesterday")
    for currency, (account, today) in local.items():
        day = today - timedelta(days=1)
        expected = truth_by_day(box, account, day, day)[day]
        assert kpi_spend(page, currency) == expected, (currency, day)

    # Last 7 days: the seven days before each account's today; the chart's day labels are
    # the Berlin account's own dates, each with Meta's figure for that date.
    page.goto(f"{web.base}/w/{ws_id}?range=7d&granularity=day")
    expect(page.locator("#chart-data")).to_have_count(1)
    shot(page, "cal-02-last-7-days")
    chart = json.loads(page.locator("#chart-data").get_attribute("data-chart") or "{}")
    for currency, (account, today) in local.items():
        days = truth_by_day(box, account, today - timedelta(days=7), today - timedelta(days=1))
        assert kpi_spend(page, currency) == sum(days.values()), currency
        if currency == "EUR":
            [line] = [s for s in chart["series"] if s["currency"] == "EUR"]
            labels = [d.strftime("%a %-d %b") for d in days]
            shown = dict(zip(chart["labels"], line["values"], strict=True))
            assert [shown.get(label) for label in labels] == [float(v) for v in days.values()]

    # The same days at Hour granularity add up to the same totals.
    page.goto(f"{web.base}/w/{ws_id}?range=7d&granularity=hour")
    for currency, (account, today) in local.items():
        days = truth_by_day(box, account, today - timedelta(days=7), today - timedelta(days=1))
        assert kpi_spend(page, currency) == sum(days.values()), currency

    # A zone that does not exist is a clear 400, not a server error.
    answer = page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=Mars/Olympus")
    assert answer is not None and answer.status == 400
    expect(page.locator("#query-problem")).to_contain_text("Mars/Olympus")
