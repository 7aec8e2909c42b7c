"""The reporting currency in Chromium against the sandbox (USD, EUR and JPY accounts): the
converted spend tile equals the sum of each day's sandbox truth times that day's rate; the
chart has one line and the table sorts by converted spend; per-currency figures are one
click away; a missing rate is said on the page and never guessed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from metricx.connections.service import add_with_token
from metricx.fx.formats import Rate
from metricx.fx.service import store
from metricx.models import Connection
from metricx.sandbox.config import SandboxConfig
from metricx.sync.service import request_sync
from tests.e2e.test_content_security_policy import WATCH, violations
from tests.e2e.test_web_journey import shot, sign_in, wait_for_syncs
from tests.e2e.test_web_parity import api
from tests.e2e.web_server import WebServer, run_web_server
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e
DAYS = 9
SIX = Decimal("0.000001")


@pytest.fixture
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(
        SandboxConfig(
            seed=21,
            accounts=3,  # USD (Los Angeles), EUR (Berlin), JPY (UTC)
            campaigns=1,
            adsets_per_campaign=1,
            ads_per_adset=2,
            days=DAYS,
            frozen_clock=True,
        )
    )


@pytest.fixture
def web(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    yield from run_web_server(box, fresh_database("web_fx"), tmp_path, sync_backfill_days=DAYS)


def connect_all(web: WebServer, box: MetaSandbox, ws_id: str) -> None:
    with web.runtime.sessions.begin() as s:
        made = add_with_token(
            s,
            settings=web.runtime.settings,
            cipher=web.runtime.cipher,
            workspace_id=ws_id,  # type: ignore[arg-type]
            access_token=box.token(),
            accounts=box.accounts(),
            created_by=None,
        )
        s.flush()
        for connection in made:
            row = s.get(Connection, connection.id)
            assert row is not None
            request_sync(s, settings=web.runtime.settings, connection=row)


def rate(currency: str, day: date) -> Decimal:
    """A made-up rate per one euro that moves every day (so a wrong day shows)."""
    base = {"USD": Decimal("1.0412"), "JPY": Decimal("158.37")}[currency]
    return base + Decimal(day.toordinal() % 7) * base / 100


def truth_by_day(box: MetaSandbox, answer: dict[str, Any]) -> dict[str, dict[date, Decimal]]:
    """Spend per currency and each account's own day, from the sandbox's truth, over the days
    the answer gave each account's zone (around midnight they differ)."""
    out: dict[str, dict[date, Decimal]] = {}
    for account in box.accounts():
        head = box.http.get(
            "/_sandbox/truth",
            params={
                "account_id": account,
                "level": "account",
                "since": "2020-01-01",
                "until": "2020-01-01",
            },
        ).json()
        zone = head["timezone_name"]
        [window] = [r for r in answer["ranges"] if not r["timezones"] or zone in r["timezones"]]
        per_day = out.setdefault(head["currency"], {})
        for r in box.truth_rows(account, "account", window["start"], window["end"]):
            day = date.fromisoformat(r["date"])
            per_day[day] = per_day.get(day, Decimal(0)) + Decimal(r["spend"])
    return out


def in_eur(truth: dict[str, dict[date, Decimal]], skip: set[tuple[str, date]]) -> Decimal:
    total = Decimal(0)
    for currency, days in truth.items():
        for day, spend in days.items():
            if (currency, day) in skip:
                continue
            total += spend if currency == "EUR" else spend / rate(currency, day)
    return total.quantize(SIX, rounding=ROUND_HALF_UP)


def tile(page: Page, currency: str) -> Decimal:
    cell = page.locator(f'#totals .kpi[data-metric="spend"] .kpi-value[data-currency="{currency}"]')
    return Decimal(cell.get_attribute("data-value") or "nan")


def test_converted_totals_equal_the_rates_times_the_truth(
    page: Page, web: WebServer, box: MetaSandbox
) -> None:
    page.add_init_script(WATCH)
    ws_id = sign_in(page, web)
    connect_all(web, box, ws_id)
    wait_for_syncs(web, ws_id, count=3)
    native = api(page, web, ws_id, preset="last_7d")
    start, end = date.fromisoformat(native["start"]), date.fromisoformat(native["end"])
    assert sorted(t["currency"] for t in native["totals"]) == ["EUR", "JPY", "USD"]
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    gap = days[2]  # the operator's file has no JPY rate for this day
    with web.runtime.sessions.begin() as s:
        store(
            s,
            [
                Rate(d, c, rate(c, d))
                for d in days
                for c in ("USD", "JPY")
                if (c, d) != ("JPY", gap)
            ],
            workspace_id=None,
            source="file",
        )
    truth = truth_by_day(box, native)

    # Per currency until the workspace chooses one; the choice is made on the dashboard.
    page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=UTC")
    expect(page.locator("#fx-per-currency")).to_be_visible()
    expect(page.locator('#totals .kpi[data-metric="spend"] .kpi-value')).to_have_count(3)
    page.select_option("#fx-default", "EUR")
    page.click("#fx-bar form button")
    expect(page.locator("#fx-marker")).to_have_text("Converted to EUR")

    # The missing day is said and its JPY stays JPY; the EUR total is the rest, converted.
    expect(page.locator("#fx-missing")).to_contain_text(f"JPY on {gap:%-d %b %Y}")
    assert tile(page, "EUR") == in_eur(truth, {("JPY", gap)})
    assert tile(page, "JPY") == truth["JPY"][gap]
    shot(page, "40-dashboard-currency-missing-rate")

    # The workspace loads its own rate for that day (the API); now every day converts.
    answer = page.request.put(
        f"{web.base}/api/v1/workspaces/{ws_id}/fx/rates",
        data=json.dumps(
            {"rates": [{"day": str(gap), "currency": "JPY", "rate": str(rate("JPY", gap))}]}
        ),
        headers={
            "Content-Type": "application/json",
            "X-CSRF-Token": page.locator('#fx-bar input[name="csrf_token"]').get_attribute("value")
            or "",
        },
    )
    assert answer.ok, answer.text()
    page.reload()
    expect(page.locator("#fx-missing")).to_have_count(0)
    expect(page.locator('#totals .kpi[data-metric="spend"] .kpi-value')).to_have_count(1)
    converted = tile(page, "EUR")
    assert converted == in_eur(truth, set())
    shown = page.locator('#totals .kpi[data-metric="spend"] .kpi-value').inner_text()
    assert f"{converted.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}" in shown
    # The API's answer for the same question is the page's.
    answer_eur = api(page, web, ws_id, preset="last_7d")
    assert [(t["currency"], Decimal(t["spend"])) for t in answer_eur["totals"]] == [
        ("EUR", converted)
    ]
    assert answer_eur["totals"][0]["converted"] is True
    # One chart line, in EUR; the table sorted by converted spend.
    chart = json.loads(page.locator("#chart-data").get_attribute("data-chart") or "{}")
    assert [s["currency"] for s in chart["series"]] == ["EUR"]
    cells = page.locator('#breakdown tbody tr[data-entity] td[data-col="spend"]')
    values = [
        Decimal(cells.nth(i).get_attribute("data-value") or "0") for i in range(cells.count())
    ]
    assert len(values) == 3 and values == sorted(values, reverse=True)
    assert sum(values, Decimal(0)) - converted < Decimal("0.00001")
    shot(page, "41-dashboard-currency-converted")

    # Per currency one click away, each equal to its account's truth.
    page.click("#fx-native")
    page.wait_for_url("**currency=native**")
    expect(page.locator('#totals .kpi[data-metric="spend"] .kpi-value')).to_have_count(3)
    for currency, per_day in truth.items():
        assert tile(page, currency) == sum(per_day.values(), Decimal(0)), currency
    page.click('.fx-convert[data-currency="EUR"]')
    expect(page.locator("#fx-marker")).to_have_text("Converted to EUR")
    assert violations(page) == []
