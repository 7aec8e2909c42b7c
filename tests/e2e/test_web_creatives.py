"""The creative gallery in Chromium against the sandbox: reached from the dashboard's nav,
cards by spend with metricx's own thumbnail copies, and the top creative's spend equal to the
sandbox's truth summed over its ads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from metricx.sandbox.config import SandboxConfig
from tests.e2e.test_content_security_policy import WATCH, violations
from tests.e2e.test_web_journey import shot, sign_in, wait_for_syncs
from tests.e2e.test_web_parity import api, connect
from tests.e2e.web_server import WebServer, run_web_server
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e
DAYS = 10


@pytest.fixture
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(
        SandboxConfig(
            seed=17,
            accounts=1,
            campaigns=4,
            adsets_per_campaign=2,
            ads_per_adset=3,
            days=DAYS,
            frozen_clock=True,
        )
    )


@pytest.fixture
def web(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    yield from run_web_server(
        box, fresh_database("web_creatives"), tmp_path, sync_backfill_days=DAYS
    )


def truth_by_creative(box: MetaSandbox, since: str, until: str) -> dict[str, Decimal]:
    account = box.accounts()[0]
    creatives = box.http.get("/_sandbox/truth/creatives", params={"account_id": account}).json()
    creative_of = {ad: c["id"] for c in creatives["creatives"] for ad in c["ads"]}
    rows = box.http.get(
        "/_sandbox/truth",
        params={"account_id": account, "level": "ad", "since": since, "until": until},
    ).json()["rows"]
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        spend[creative_of[row["entity_id"]]] += Decimal(row["spend"])
    return spend


def test_the_gallery_shows_creatives_by_spend_as_the_truth_has_them(
    page: Page, web: WebServer, box: MetaSandbox
) -> None:
    page.add_init_script(WATCH)
    ws_id = sign_in(page, web)
    connect(web, box, ws_id)
    wait_for_syncs(web, ws_id, count=1)

    page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=UTC")
    page.click("nav.mainnav >> text=Creatives")
    page.wait_for_url(f"{web.base}/w/{ws_id}/creatives")
    expect(page.locator("h1")).to_have_text("Creatives")
    cards = page.locator("#gallery .creative-card")
    expect(cards.first).to_be_visible()

    answer = api(page, web, ws_id, preset="last_7d", group_by="creative", series="none")
    truth = truth_by_creative(box, answer["start"], answer["end"])
    delivered = sorted(((s, c) for c, s in truth.items() if s > 0), reverse=True)
    assert cards.count() == len([g for g in answer["groups"]]) >= 3
    shown = [
        (card.get_attribute("data-creative"), Decimal(card.get_attribute("data-spend") or "0"))
        for card in (cards.nth(i) for i in range(cards.count()))
    ]
    spends = [s for _, s in shown]
    assert spends == sorted(spends, reverse=True)
    top_id, top_spend = shown[0]
    assert top_spend == delivered[0][0] and top_id == delivered[0][1]
    assert all(truth[c] == s for c, s in shown if c)
    top = cards.first
    expect(top.locator(".fig-spend")).not_to_have_text("\u2013")  # the "none" dash
    expect(top.locator(".fig-ctr")).to_contain_text("%")
    # the thumbnail is metricx's copy, served to this signed-in user, a real image
    img = top.locator("img.creative-thumb")
    assert (img.get_attribute("src") or "").startswith(f"/api/v1/workspaces/{ws_id}/creatives/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.creative-thumb')].every(i => i.complete)"
    )
    assert img.evaluate("i => i.naturalWidth") == 64
    shot(page, "40-creative-gallery")

    # the dashboard's own link opens the gallery on the dashboard's range
    page.goto(f"{web.base}/w/{ws_id}?range=30d&tz=UTC")
    page.click("#creative-gallery-link")
    page.wait_for_url("**/creatives?**range=30d**")
    expect(page.locator('.range-links a[aria-current="true"]')).to_have_text("Last 30 days")
    assert violations(page) == []
