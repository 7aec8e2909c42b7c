"""The dashboard's parity columns in Chromium against the sandbox: reach for the range is
Meta's figure for it (as the API answers), switching the attribution choice re-asks the query
API and the table shows its figures, and all of it runs under the Content-Security-Policy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from metricx.connections.service import add_with_token
from metricx.conversions.schemas import ConversionCreate
from metricx.conversions.service import create_conversion, list_custom_conversions
from metricx.models import Connection
from metricx.sandbox.config import SandboxConfig
from metricx.sync.service import request_sync
from tests.e2e.test_content_security_policy import WATCH, violations
from tests.e2e.test_web_journey import shot, sign_in, wait_for_syncs
from tests.e2e.web_server import WebServer, run_web_server
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e
DAYS = 10


@pytest.fixture
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(
        SandboxConfig(
            seed=16,
            accounts=1,
            campaigns=4,
            adsets_per_campaign=2,
            ads_per_adset=2,
            days=DAYS,
            frozen_clock=True,
        )
    )


@pytest.fixture
def web(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    yield from run_web_server(box, fresh_database("web_parity"), tmp_path, sync_backfill_days=DAYS)


def connect(web: WebServer, box: MetaSandbox, ws_id: str) -> None:
    with web.runtime.sessions.begin() as s:
        [connection] = add_with_token(
            s,
            settings=web.runtime.settings,
            cipher=web.runtime.cipher,
            workspace_id=ws_id,  # type: ignore[arg-type]
            access_token=box.token(),
            accounts=box.accounts()[:1],
            created_by=None,
        )
        s.flush()
        row = s.get(Connection, connection.id)
        assert row is not None
        request_sync(s, settings=web.runtime.settings, connection=row)


def api(page: Page, web: WebServer, ws_id: str, **params: str) -> dict[str, Any]:
    answer = page.request.get(f"{web.base}/api/v1/workspaces/{ws_id}/metrics/query", params=params)
    assert answer.ok, answer.text()
    body: dict[str, Any] = answer.json()
    return body


def column(page: Page, col: str) -> dict[str, str]:
    """entity id -> the table's raw value of ``col``."""
    rows = page.locator("#breakdown tbody tr[data-entity]")
    return {
        rows.nth(i).get_attribute("data-entity") or "": rows.nth(i)
        .locator(f'td[data-col="{col}"]')
        .get_attribute("data-value")
        or ""
        for i in range(rows.count())
    }


def total(page: Page, col: str) -> Decimal:
    cell = page.locator(f'#breakdown tfoot tr.total td[data-col="{col}"]').first
    return Decimal(cell.get_attribute("data-value") or "0")


def test_dashboard_reach_and_attribution_choice_match_the_api(
    page: Page, web: WebServer, box: MetaSandbox
) -> None:
    page.add_init_script(WATCH)
    ws_id = sign_in(page, web)
    connect(web, box, ws_id)
    wait_for_syncs(web, ws_id, count=1)

    # Performance columns (the default): reach and frequency for the last 7 days.
    page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=UTC")
    expect(page.locator("#breakdown thead")).to_contain_text("Reach")
    expect(page.locator("#breakdown .pending")).to_have_count(0, timeout=30_000)
    want = api(page, web, ws_id, preset="last_7d", level="campaign", group_by="entity")
    assert want["reach_status"] == "fresh"
    reach = {g["group"]: "" if g["reach"] is None else str(g["reach"]) for g in want["groups"]}
    assert column(page, "reach") == reach and all(reach.values())
    shot(page, "20-dashboard-performance-columns")

    # Conversions under Meta's default attribution, then under 7-day click.
    page.select_option("#f-columns", "conversions")
    page.wait_for_url("**columns=conversions**")
    expect(page.locator("#breakdown thead")).to_contain_text("Purchase value")
    default = api(page, web, ws_id, preset="last_7d", level="campaign", group_by="entity")
    if default.get("attribution_mixed"):
        expect(page.locator("#attribution-mixed")).to_be_visible()
    page.select_option("#f-attribution", "7d_click")
    page.wait_for_url("**attribution=7d_click**")
    expect(page.locator("#f-attribution")).to_have_value("7d_click")
    fixed = api(
        page,
        web,
        ws_id,
        preset="last_7d",
        level="campaign",
        group_by="entity",
        attribution="7d_click",
    )
    assert fixed["attribution"] != default["attribution"]
    expected = Decimal(fixed["totals"][0]["purchases"] or "0")
    assert total(page, "purchases") == expected
    by_api = {g["group"]: g["purchase_value"] for g in fixed["groups"]}
    shown = column(page, "purchase_value")
    assert {k: Decimal(v or "0") for k, v in shown.items()} == {
        k: Decimal(v or "0") for k, v in by_api.items()
    }
    expect(page.locator("#attribution-mixed")).to_have_count(0)  # fixed windows add up
    shot(page, "21-dashboard-conversions-7d-click")

    # A workspace conversion (the pixel purchase and a synced custom conversion): its columns
    # and tiles on the page are the query API's figures, under the chosen attribution.
    with web.runtime.sessions.begin() as s:
        custom = list_custom_conversions(s, workspace_id=uuid.UUID(ws_id))
        assert custom, "the sandbox's custom conversions were synced"
        body = ConversionCreate(
            name="Sales",
            action_types=["offsite_conversion.fb_pixel_purchase"],
            custom_conversion_ids=[custom[0].external_id],
        )
        create_conversion(s, workspace_id=uuid.UUID(ws_id), body=body)
    page.reload()
    page.select_option("#f-conversion", "Sales")
    page.wait_for_url("**conversion=Sales**")
    expect(page.locator("#breakdown thead")).to_contain_text("Cost per Sales")
    expect(page.locator("#chart .uplot")).to_have_count(1)  # the swapped panel's chart is drawn
    sales = api(
        page,
        web,
        ws_id,
        preset="last_7d",
        level="campaign",
        group_by="entity",
        attribution="7d_click",
        conversion="Sales",
    )
    counts = {g["group"]: Decimal(g["conversion"]["count"] or "0") for g in sales["groups"]}
    shown = column(page, "conversion.count")
    assert {k: Decimal(v or "0") for k, v in shown.items()} == counts
    assert sum(counts.values()) > 0
    tile = page.locator('.kpi[data-metric="conversion.count"] .kpi-value').first
    assert Decimal(tile.get_attribute("data-value") or "0") == Decimal(
        sales["totals"][0]["conversion"]["count"]
    )
    shot(page, "22-dashboard-workspace-conversion")
    assert violations(page) == []
