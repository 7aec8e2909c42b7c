"""The dashboard's Breakdown menu in Chromium: an account synced from the sandbox, each ad's
days split into breakdown values and written with write_breakdowns (the sync's own breakdown
fetch is the sync's test), then every choice of the menu opened: the table's rows and figures
are the values written, one-dimension sets have their bar chart and age x gender its grid,
the reconciliation is shown, the choice is the URL (reload and Back keep it), the download
is the table, all under the Content-Security-Policy, and the page fits a phone."""

from __future__ import annotations

import csv
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from metricx.facts.breakdowns import BREAKDOWN_SETS, BreakdownRow, write_breakdowns
from metricx.sandbox.config import SandboxConfig
from metricx.web.dashboard_view import BREAKDOWNS
from tests.e2e.test_content_security_policy import WATCH, violations
from tests.e2e.test_web_filters import connect_all
from tests.e2e.test_web_journey import shot, sign_in, wait_for_syncs
from tests.e2e.web_server import WebServer, run_web_server
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e
DAYS = 6
CENT = Decimal("0.01")
# Each set's values and their weights: an ad's day is split in these proportions.
VALUES: dict[str, list[tuple[tuple[str, str], int]]] = {
    "age": [(("18-24", ""), 3), (("25-34", ""), 5), (("35-44", ""), 2), (("65+", ""), 1)],
    "gender": [(("female", ""), 5), (("male", ""), 4), (("unknown", ""), 1)],
    "age_gender": [
        (("18-24", "female"), 2),
        (("18-24", "male"), 1),
        (("25-34", "female"), 4),
        (("25-34", "male"), 3),
        (("35-44", "female"), 1),
        (("35-44", "male"), 2),
        (("65+", "unknown"), 1),
    ],
    "country": [(("US", ""), 6), (("GB", ""), 3), (("DE", ""), 1)],
    "region": [(("California", ""), 4), (("Texas", ""), 3), (("Bavaria", ""), 2)],
    "publisher_platform": [(("facebook", ""), 5), (("instagram", ""), 4), (("messenger", ""), 1)],
    "placement": [
        (("facebook", "feed"), 5),
        (("instagram", "instagram_stories"), 3),
        (("audience_network", "an_classic"), 1),
    ],
    "impression_device": [
        (("iphone", ""), 4),
        (("android_smartphone", ""), 4),
        (("desktop", ""), 1),
    ],
    "device_platform": [(("mobile_app", ""), 7), (("desktop", ""), 2)],
    "dma": [(("New York", ""), 5), (("Chicago", ""), 3), (("Atlanta", ""), 2)],
    "platform_device": [
        (("facebook", "iphone"), 4),
        (("instagram", "android_smartphone"), 4),
        (("facebook", "desktop"), 2),
    ],
}
# Meta's breakdown estimates need not add up: the regions' rows leave out a value's share.
SHORT = {"region", "dma"}


@pytest.fixture
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(
        SandboxConfig(
            seed=29,
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
    yield from run_web_server(
        box, fresh_database("web_breakdowns"), tmp_path, sync_backfill_days=DAYS
    )


def split(amount: Decimal | int, weights: list[int]) -> list[Decimal]:
    """``amount`` in parts by weight, to the cent (whole units for counts); the first part
    takes the rounding."""
    unit = CENT if isinstance(amount, Decimal) else Decimal(1)
    whole = Decimal(amount)
    parts = [(whole * w / sum(weights)).quantize(unit, rounding=ROUND_DOWN) for w in weights]
    parts[0] += whole - sum(parts)
    return parts


@pytest.fixture
def written(web: WebServer, box: MetaSandbox, page: Page) -> dict[str, Any]:
    """The synced account and every breakdown set written for its days of delivery: the
    page's range (those days), the sums per set and value, and the total without a
    breakdown."""
    page.add_init_script(WATCH)
    ws_id = sign_in(page, web)
    [(account, connection_id)] = connect_all(web, box, ws_id).items()
    wait_for_syncs(web, ws_id, count=1)
    now = box.http.get("/_sandbox/truth", params={"account_id": account, "level": "account"})
    since = date.fromisoformat(now.json()["as_of"][:10]) - timedelta(days=DAYS + 2)
    truth = box.http.get(
        "/_sandbox/truth",
        params={"account_id": account, "level": "ad", "granularity": "day", "since": str(since)},
    ).json()
    days = sorted({r["date"] for r in truth["rows"]})
    assert len(days) >= 3, (days, truth["as_of"])
    start, end = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    ad_days = [r for r in truth["rows"] if start <= date.fromisoformat(r["date"]) <= end]
    assert ad_days
    sums: dict[str, dict[str, dict[str, Decimal]]] = {}
    with web.runtime.sessions.begin() as s:
        for name, values in VALUES.items():
            kept = values[:-1] if name in SHORT else values
            weights = [w for _, w in values]
            rows = []
            per: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
            for r in ad_days:
                spend = split(Decimal(r["spend"]), weights)
                imps = split(int(r["impressions"]), weights)
                clicks = split(int(r["clicks"]), weights)
                for i, ((key1, key2), _) in enumerate(kept):
                    rows.append(
                        BreakdownRow(
                            external_id=r["entity_id"],
                            day=date.fromisoformat(r["date"]),
                            key1=key1,
                            key2=key2,
                            spend=spend[i],
                            impressions=int(imps[i]),
                            clicks=int(clicks[i]),
                            link_clicks=None,
                            reach=None,
                            conversions=None,
                            leads=None,
                            purchases=None,
                            purchase_value=None,
                            results=None,
                        )
                    )
                    key = f"{key1}|{key2}" if key2 else key1
                    per[key]["spend"] += spend[i]
                    per[key]["impressions"] += imps[i]
            sums[name] = per
            done = write_breakdowns(
                s,
                workspace_id=uuid.UUID(ws_id),
                connection_id=connection_id,
                provider="meta",
                breakdown=name,
                currency=truth["currency"],
                since=start,
                until=end,
                campaigns=None,
                rows=rows,
                fetch_id=None,
            )
            assert done.unknown == 0 and done.written == len(rows)
    total = sum((Decimal(r["spend"]) for r in ad_days), Decimal(0))
    return {
        "ws_id": ws_id,
        "url": f"{web.base}/w/{ws_id}?range=custom&start={start}&end={end}&tz=UTC",
        "sums": sums,
        "total": total,
        "currency": truth["currency"],
    }


def table(page: Page) -> dict[str, Decimal]:
    """The table's rows: the breakdown values (joined by "|") -> spend."""
    rows = page.locator("#breakdown tbody tr[data-breakdown]")
    out = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        spend = row.locator('td[data-col="spend"]').get_attribute("data-value")
        out[row.get_attribute("data-breakdown") or ""] = Decimal(spend or "0")
    return out


def test_every_breakdown_opens_from_the_menu(page: Page, web: WebServer, written: Any) -> None:
    page.goto(written["url"])
    expect(page.locator("#f-breakdown")).to_have_value("")
    options = page.locator("#f-breakdown option")
    assert options.all_inner_texts() == ["None", *BREAKDOWNS.values()]
    assert set(BREAKDOWNS) == set(BREAKDOWN_SETS)
    for name, label in BREAKDOWNS.items():
        page.select_option("#f-breakdown", name)
        page.wait_for_url(f"**breakdown={name}**")
        expect(page.locator("#breakdown tbody tr[data-breakdown]")).to_have_count(
            len(written["sums"][name])
        )
        want = {k: v["spend"] for k, v in written["sums"][name].items()}
        assert table(page) == want, name
        heads = page.locator("#breakdown thead th.breakdown-field")
        assert heads.count() == len(BREAKDOWN_SETS[name])
        # totals: the values' sum; the reconciliation: that sum against the unbroken total
        spent = sum(want.values(), Decimal(0))
        cell = page.locator('#breakdown tfoot tr.total td[data-col="spend"]')
        assert Decimal(cell.get_attribute("data-value") or "0") == spent
        line = page.locator(
            f'#reconciliation li[data-measure="spend"][data-currency="{written["currency"]}"]'
        )
        expect(line).to_contain_text("breakdown sum")
        if name in SHORT:
            assert spent < written["total"]
            expect(line).to_contain_text("\u2212")  # the regions fall short of the total
        else:
            assert spent == written["total"]
            expect(line).to_contain_text("(0.0%), within tolerance")
        if name == "age_gender":
            expect(page.locator("#breakdown-chart")).to_have_count(0)
            grid = page.locator("#age-gender table.age-gender-grid")
            expect(grid).to_be_visible()
            ages = grid.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.age)")
            assert ages == ["18-24", "25-34", "35-44", "65+"]
            genders = grid.locator("thead th[data-gender]")
            assert genders.all_text_contents() == ["Female", "Male", "Unknown"]
            for key, spend in want.items():
                age, gender = key.split("|")
                got = grid.locator(f'td[data-age="{age}"][data-gender="{gender}"]')
                assert Decimal(got.get_attribute("data-value") or "0") == spend, key
            # a pair without delivery is an empty cell
            empty = grid.locator('td[data-age="65+"][data-gender="female"]')
            assert empty.get_attribute("data-value") == ""
            shot(page, "50-breakdown-age-gender")
        else:
            expect(page.locator("#age-gender")).to_have_count(0)
            chart = page.locator("#breakdown-chart")
            expect(chart).to_be_visible()
            expect(chart.locator("h2")).to_have_text(f"Spend by {label.lower()}")
            bars = chart.locator("li.bar")
            assert bars.count() == len(want)
            shown = [
                (b.get_attribute("data-key"), Decimal(b.get_attribute("data-value") or "0"))
                for b in (bars.nth(i) for i in range(bars.count()))
            ]
            assert dict(shown) == want
            assert [v for _, v in shown] == sorted(want.values(), reverse=True)
            box = bars.first.locator("rect.bar-fill").bounding_box()
            assert box is not None and box["width"] > 0
        shot(page, f"51-breakdown-{name}")

    # The choice is the URL: reload keeps it, Back goes to the one before.
    assert parse_qs(urlsplit(page.url).query)["breakdown"] == ["device_platform"]
    page.reload()
    expect(page.locator("#f-breakdown")).to_have_value("device_platform")
    assert table(page) == {k: v["spend"] for k, v in written["sums"]["device_platform"].items()}
    page.go_back()
    expect(page.locator("#f-breakdown")).to_have_value("impression_device")
    expect(page.locator("#breakdown tbody tr[data-breakdown]")).to_have_count(
        len(written["sums"]["impression_device"])
    )

    # Sorting by impressions: the table and the bars follow.
    page.locator('#breakdown thead a[data-sort="impressions"]').click()
    page.wait_for_url("**sort=impressions**")
    expect(page.locator("#breakdown-chart")).to_have_attribute("data-measure", "impressions")
    bars = page.locator("#breakdown-chart li.bar")
    imps = {k: v["impressions"] for k, v in written["sums"]["impression_device"].items()}
    assert [b.get_attribute("data-key") for b in bars.all()] == sorted(imps, key=lambda k: -imps[k])

    # A row per campaign and value: each campaign's rows add up to the value's.
    page.select_option("#f-breakdown", "country")
    page.wait_for_url("**breakdown=country**")
    page.select_option("#f-breakdown-rows", "entity")
    page.wait_for_url("**breakdown_rows=entity**")
    rows = page.locator("#breakdown tbody tr[data-entity][data-breakdown]")
    expect(rows).to_have_count(2 * len(written["sums"]["country"]))
    per: dict[str, Decimal] = defaultdict(Decimal)
    for i in range(rows.count()):
        spend = rows.nth(i).locator('td[data-col="spend"]').get_attribute("data-value")
        per[rows.nth(i).get_attribute("data-breakdown") or ""] += Decimal(spend or "0")
    assert dict(per) == {k: v["spend"] for k, v in written["sums"]["country"].items()}

    # Drill into a campaign: its rows only, the breakdown kept.
    first = rows.first.get_attribute("data-entity")
    rows.first.locator("a.drill").click()
    page.wait_for_url(f"**campaign={first}**")
    expect(page.locator("#f-breakdown")).to_have_value("country")
    expect(page.locator(".crumbs li")).to_have_count(2)

    # Hours are not a breakdown's: the choice is disabled, asked for it says so.
    hour = page.locator('#f-granularity option[value="hour"]')
    assert hour.is_disabled()
    page.goto(written["url"] + "&breakdown=age&granularity=hour")
    expect(page.locator(".breakdown-adjusted")).to_contain_text("reported per day")
    expect(page.locator("#breakdown tbody tr[data-breakdown]")).to_have_count(4)

    # The download is the table.
    page.goto(written["url"] + "&breakdown=gender")
    with page.expect_download() as info:
        page.click("#export-table")
    with Path(info.value.path()).open(encoding="utf-8") as f:
        rows_csv = list(csv.reader(f))
    assert rows_csv[0][:3] == ["Gender", "currency", "Spend"]
    assert {r[0]: Decimal(r[2]) for r in rows_csv[1:] if r[0] != "Total"} == table(page)

    # On a phone: the bars and the grid fit the screen (the grid scrolls in its card).
    page.set_viewport_size({"width": 390, "height": 844})
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    for name in ("country", "age_gender"):
        page.goto(f"{written['url']}&breakdown={name}")
        expect(page.locator("#breakdown tbody tr[data-breakdown]").first).to_be_visible()
        assert page.evaluate(fits), name
        shot(page, f"52-breakdown-{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 720})

    # None again: the time chart is back.
    page.select_option("#f-breakdown", "")
    page.wait_for_url(lambda url: not parse_qs(urlsplit(url).query).get("breakdown"))
    expect(page.locator("#chart .uplot")).to_be_visible()
    assert violations(page) == []
