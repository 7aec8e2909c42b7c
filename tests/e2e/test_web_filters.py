"""The dashboard's filters, column picker, saved views and CSV download in Chromium against
the sandbox: each narrows the table to what the query API (and the sandbox's truth) says;
every choice is the URL, so Back after a drill-down, reload and a saved view bring it back;
the downloaded CSV is the table on the page; the page fits a phone."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from metricx.connections.service import add_with_token
from metricx.models import Connection
from metricx.sandbox.config import SandboxConfig
from metricx.sync.service import request_sync
from tests.e2e.test_content_security_policy import WATCH, violations
from tests.e2e.test_web_journey import shot, sign_in, truth_spend, wait_for_syncs
from tests.e2e.test_web_parity import api, column
from tests.e2e.web_server import WebServer, run_web_server
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e
DAYS = 8


@pytest.fixture
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(
        SandboxConfig(
            seed=23,
            accounts=2,
            campaigns=3,
            adsets_per_campaign=1,
            ads_per_adset=1,
            days=DAYS,
            frozen_clock=True,
        )
    )


@pytest.fixture
def web(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    yield from run_web_server(box, fresh_database("web_filters"), tmp_path, sync_backfill_days=DAYS)


def connect_all(web: WebServer, box: MetaSandbox, ws_id: str) -> dict[str, uuid.UUID]:
    """Every sandbox account connected and syncing: account id -> connection id."""
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
        out = {}
        for c in made:
            row = s.get(Connection, c.id)
            assert row is not None
            request_sync(s, settings=web.runtime.settings, connection=row)
            out[row.external_account_id] = row.id
        return out


def shown_rows(page: Page) -> list[str]:
    rows = page.locator("#breakdown tbody tr[data-entity]")
    return [rows.nth(i).get_attribute("data-entity") or "" for i in range(rows.count())]


def api_rows(page: Page, web: WebServer, ws_id: str, **params: str) -> list[str]:
    answer = api(page, web, ws_id, preset="last_7d", group_by="entity", level="campaign", **params)
    return [g["group"] for g in answer["groups"]]


def test_filters_views_and_export_follow_the_url(
    page: Page, web: WebServer, box: MetaSandbox
) -> None:
    page.add_init_script(WATCH)
    ws_id = sign_in(page, web)
    connections = connect_all(web, box, ws_id)
    wait_for_syncs(web, ws_id, count=len(connections))
    page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=UTC")
    everything = shown_rows(page)
    assert sorted(everything) == sorted(api_rows(page, web, ws_id))

    # One account: its campaigns only, its total the sandbox's truth.
    account, connection_id = sorted(connections.items())[0]
    page.select_option("#f-account", str(connection_id))
    page.wait_for_url(f"**account={connection_id}**")
    expect(page.locator("#breakdown tbody tr[data-entity]")).not_to_have_count(len(everything))
    mine = api_rows(page, web, ws_id, connection_id=str(connection_id))
    assert sorted(shown_rows(page)) == sorted(mine) and mine
    answer = api(page, web, ws_id, preset="last_7d", connection_id=str(connection_id))
    start, end = answer["start"], answer["end"]  # the account's own last 7 days
    currency, spend = truth_spend(box, account, start, end)
    cell = page.locator(
        f'#breakdown tfoot tr.total[data-currency="{currency}"] td[data-col="spend"]'
    )
    assert Decimal(cell.get_attribute("data-value") or "0") == spend
    shot(page, "45-dashboard-account-filter")

    # A campaign search (part of one name, another case): the campaigns it names.
    names = dict(
        zip(
            shown_rows(page),
            page.locator("#breakdown tbody th.name a").all_inner_texts(),
            strict=True,
        )
    )
    target_id, target_name = next(iter(names.items()))
    words = target_name.split()
    part = words[-1].upper() if len(words) > 1 else target_name.upper()
    page.fill("#f-q", part)
    page.press("#f-q", "Enter")
    page.wait_for_url(f"**q={part}**")
    expect(page.locator("#clear-filters")).to_be_visible()
    found = shown_rows(page)
    assert target_id in found
    assert all(part.lower() in names[i].lower() for i in found)

    # Drill into it, then Back: the filtered list again; reload keeps it.
    page.locator(f'#breakdown tr[data-entity="{target_id}"] a.drill').click()
    expect(page.locator(".crumbs")).to_contain_text(target_name)
    page.wait_for_url(f"**campaign={target_id}**")
    page.go_back()
    expect(page.locator("#f-q")).to_have_value(part)
    assert sorted(shown_rows(page)) == sorted(found)
    page.reload()
    expect(page.locator("#f-q")).to_have_value(part)
    expect(page.locator("#f-account")).to_have_value(str(connection_id))

    # The column picker: three columns, in the picker's order, kept on reload.
    page.click("#column-picker summary")
    boxes = page.locator("#column-picker input[name=col]")
    for i in range(boxes.count()):
        boxes.nth(i).set_checked(False)
    for key in ("thruplays", "spend", "ctr_link"):
        page.check(f'#column-picker input[name=col][value="{key}"]')
    page.click("#apply-columns")
    page.wait_for_url("**columns=custom**")
    heads = page.locator("#breakdown thead th[data-col]")
    expect(heads).to_have_count(3)
    assert [heads.nth(i).get_attribute("data-col") for i in range(3)] == [
        "spend",
        "ctr_link",
        "thruplays",
    ]
    expect(page.locator("#f-columns")).to_have_value("custom")
    shot(page, "46-dashboard-columns-picked")

    # Save the view, clear every filter, open the view again: the same question.
    page.click("#saved-views summary")
    page.fill("#view-name", "Best campaign")
    page.click("#save-view button[type=submit]")
    expect(page.locator("#saved-views .view-link.current")).to_have_count(1)
    page.click("#clear-filters")
    expect(page.locator("#f-q")).to_have_value("")
    expect(page.locator("#breakdown tbody tr[data-entity]")).to_have_count(len(everything))
    page.click("#saved-views summary")
    page.click('#saved-views .view-link:text("Best campaign")')
    expect(page.locator("#f-q")).to_have_value(part)
    assert sorted(shown_rows(page)) == sorted(found)
    opened = parse_qs(urlsplit(page.url).query)
    assert opened["q"] == [part] and opened["account"] == [str(connection_id)]
    assert opened["columns"] == ["custom"] and opened["cols"] == ["spend,ctr_link,thruplays"]

    # The download is the table: same rows, same order, the shown columns' raw figures.
    with page.expect_download() as info:
        page.click("#export-table")
    path = info.value.path()
    with Path(path).open(encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == ["Campaign", "id", "currency", "Spend", "CTR (link)", "ThruPlays"]
    body = [r for r in table[1:] if r[0] != "Total"]
    assert [r[1] for r in body] == shown_rows(page)
    for i, key in enumerate(("spend", "ctr_link", "thruplays")):
        values = column(page, key)
        assert {r[1]: r[3 + i] for r in body} == values, key
    assert violations(page) == []


def test_the_dashboard_fits_a_phone(browser: Browser, web: WebServer, box: MetaSandbox) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        ws_id = sign_in(page, web)
        connect_all(web, box, ws_id)
        wait_for_syncs(web, ws_id, count=len(box.accounts()))
        page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=UTC")
        expect(page.locator("#breakdown tbody tr[data-entity]").first).to_be_visible()
        fits = "document.documentElement.scrollWidth <= window.innerWidth"
        assert page.evaluate(fits)
        for menu in ("#column-picker", "#saved-views"):
            page.click(f"{menu} summary")
            panel = page.locator(f"{menu} .menu-body").bounding_box()
            assert panel is not None
            assert panel["x"] >= 0 and panel["x"] + panel["width"] <= 390 + 0.5, (menu, panel)
            assert page.evaluate(fits), menu
            page.click(f"{menu} summary")
        kpis = page.locator(".kpi").first.bounding_box()
        assert kpis is not None and kpis["width"] < 390 / 2  # two tiles a row
        shot(page, "47-dashboard-phone")
    finally:
        context.close()


@pytest.fixture
def small_pages(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    """Pages of two rows (METRICX_DASHBOARD_ROWS), so the sandbox's six campaigns need three."""
    yield from run_web_server(
        box, fresh_database("web_rows"), tmp_path, sync_backfill_days=DAYS, dashboard_rows=2
    )


def test_show_more_adds_rows_in_place_and_the_url_keeps_them(
    page: Page, small_pages: WebServer, box: MetaSandbox
) -> None:
    web = small_pages
    page.add_init_script(WATCH)
    ws_id = sign_in(page, web)
    connect_all(web, box, ws_id)
    wait_for_syncs(web, ws_id, count=len(box.accounts()))
    page.goto(f"{web.base}/w/{ws_id}?range=7d&tz=UTC")
    everything = api_rows(page, web, ws_id)  # sorted by spend, as the table
    assert len(everything) == 6
    rows = page.locator("#breakdown tbody tr[data-entity]")
    expect(rows).to_have_count(2)
    assert shown_rows(page) == everything[:2]
    expect(page.locator("#more-rows")).to_contain_text("first 2 of 6 rows")
    total = page.locator('#breakdown tfoot tr.total td[data-col="spend"]').first
    whole = total.get_attribute("data-value")

    page.click("#more-rows a.show-more")
    page.wait_for_url("**rows=4**")
    expect(rows).to_have_count(4)
    assert shown_rows(page) == everything[:4]
    assert total.get_attribute("data-value") == whole  # the totals were over all six already

    page.click("#more-rows a.show-all")
    page.wait_for_url("**rows=6**")
    expect(rows).to_have_count(6)
    expect(page.locator("#more-rows")).to_have_count(0)
    page.reload()
    expect(rows).to_have_count(6)
    assert shown_rows(page) == everything
    assert violations(page) == []
