"""The dashboard's comparison over HTTP: every KPI tile's change against the previous period
of the same length (or the same days a year before), per currency for money, the earlier
figures being the query API's for that period; the chart's dashed overlay; cost tiles read
"up is bad"."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.models import Connection, ConnectionStatus, Entity, Level, Provider
from metricx.web.dashboard_compare import change, earlier_period
from tests.factories import KeyedWorkspace, join, make_keyed_workspace, make_user
from tests.metrics.test_query import entity, fact, ingest, query
from tests.web.test_pages import sign_in

START, END = date(2026, 5, 8), date(2026, 5, 14)  # the range shown: 7 days
BEFORE = (date(2026, 5, 1), date(2026, 5, 7))  # the 7 days before
YEAR_BEFORE = (date(2025, 5, 8), date(2025, 5, 14))


def account(db: Session, ws: KeyedWorkspace, currency: str) -> Entity:
    """A UTC ad account in ``currency`` with one campaign, ad set and ad; returns the ad."""
    conn = Connection(
        workspace_id=ws.workspace.id,
        provider=Provider.META,
        external_account_id=f"act_{currency}",
        name=f"Shop {currency}",
        currency=currency,
        timezone="UTC",
        status=ConnectionStatus.ACTIVE,
    )
    db.add(conn)
    db.flush()
    acct = entity(db, ws, Level.ACCOUNT, name=conn.name)
    acct.external_id = conn.external_account_id
    camp = entity(db, ws, Level.CAMPAIGN, acct)
    adset = entity(db, ws, Level.ADSET, camp)
    ad = entity(db, ws, Level.AD, adset)
    for e in (acct, camp, adset, ad):
        e.connection_id = conn.id
    db.flush()
    return ad


def days(first: date, last: date) -> list[datetime]:
    return [
        datetime.combine(first + timedelta(days=i), datetime.min.time(), UTC)
        for i in range((last - first).days + 1)
    ]


def world(client: TestClient, db: Session) -> KeyedWorkspace:
    """A USD and a EUR account: USD spends 2 a day now and 1 a day before (and 4 a day a
    year before); EUR spends 3 a day now, 3 before; clicks 4 a day now, 2 before."""
    ws = make_keyed_workspace(db)
    usd, eur = account(db, ws, "USD"), account(db, ws, "EUR")
    records = []
    for d in days(START, END):
        records.append(fact(usd, d, "day", spend="2.00", clicks=4, impressions=100))
        records.append(fact(eur, d, "day", currency="EUR", spend="3.00", clicks=4))
    for d in days(*BEFORE):
        records.append(fact(usd, d, "day", spend="1.00", clicks=2, impressions=100))
        records.append(fact(eur, d, "day", currency="EUR", spend="3.00", clicks=2))
    for d in days(*YEAR_BEFORE):
        records.append(fact(usd, d, "day", spend="4.00", clicks=4, impressions=100))
    ingest(client, ws, records)
    user = make_user(db)
    join(db, ws.workspace, user)
    sign_in(client, user.email)
    return ws


def page(client: TestClient, ws: KeyedWorkspace, **params: Any) -> str:
    answer = client.get(
        f"/w/{ws.workspace.id}",
        params={"range": "custom", "start": START, "end": END, **params},
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def changes(html: str, metric: str) -> dict[str, dict[str, str]]:
    """currency ('' for figures over every currency) -> the tile's change attributes."""
    tile = re.search(rf'<div class="kpi card" data-metric="{metric}">(.*?)\n    </div>', html, re.S)
    assert tile, metric
    found = {}
    for m in re.finditer(r'<div class="kpi-change ([a-z]+) ([a-z]+)" ([^>]*)>', tile.group(1)):
        attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', m.group(3)))
        found[attrs["of-currency"]] = {"direction": m.group(1), "tone": m.group(2), **attrs}
    return found


def totals(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["currency"]: t for t in answer["totals"]}


def test_every_tile_compares_with_the_previous_period_per_currency(
    client: TestClient, db: Session
) -> None:
    ws = world(client, db)
    html = page(client, ws)
    before = totals(query(client, ws, start=BEFORE[0], end=BEFORE[1], granularity="day"))
    spend = changes(html, "spend")
    assert set(spend) == {"USD", "EUR"}  # money is compared per currency, never added
    assert Decimal(spend["USD"]["previous"]) == Decimal(before["USD"]["spend"]) == 7
    assert Decimal(spend["USD"]["change"]) == 1  # 14 against 7: +100%
    assert spend["USD"]["direction"] == "up" and spend["USD"]["tone"] == "neutral"
    assert Decimal(spend["EUR"]["previous"]) == Decimal(before["EUR"]["spend"]) == 21
    assert spend["EUR"]["direction"] == "flat" and Decimal(spend["EUR"]["change"]) == 0
    clicks = changes(html, "clicks")[""]  # counts: over every currency
    assert int(clicks["previous"]) == sum(t["clicks"] for t in before.values()) == 28
    assert Decimal(clicks["change"]) == 1
    assert clicks["direction"] == "up" and clicks["tone"] == "good"
    for metric in ("impressions", "ctr", "conversions", "roas"):
        assert changes(html, metric), metric  # every tile has its change
    assert "+100.0%" not in html and "▲ 100.0%" in html
    assert "Previous period: 2026-05-01 \u2013 2026-05-07" in html


def test_the_same_period_a_year_before_is_an_option_kept_in_the_url(
    client: TestClient, db: Session
) -> None:
    ws = world(client, db)
    html = page(client, ws, compare="year")
    year = totals(query(client, ws, start=YEAR_BEFORE[0], end=YEAR_BEFORE[1]))
    usd = changes(html, "spend")["USD"]
    assert Decimal(usd["previous"]) == Decimal(year["USD"]["spend"]) == 28
    assert Decimal(usd["change"]) == Decimal("-0.5") and usd["direction"] == "down"
    eur = changes(html, "spend")["EUR"]  # no EUR figure a year before: no ratio, said so
    assert eur["previous"] == "" and eur["change"] == "" and "no figure before" in html
    assert '<option value="year" selected>' in html
    assert "compare=year" in html  # the page's links keep the choice
    overlaid = page(client, ws, overlay="1")
    assert "checked" in overlaid.split('id="f-overlay"')[1].split(">")[0]
    assert "compare=" not in page(client, ws).split('id="panel"')[1]  # default: not in links
    odd = page(client, ws, compare="decade", overlay="maybe")  # unknown: the defaults
    assert (
        '<option value="previous" selected>' in odd
        and "checked" not in odd.split('id="f-overlay"')[1].split(">")[0]
    )


def test_the_chart_overlays_the_earlier_period_dashed_and_aligned(
    client: TestClient, db: Session
) -> None:
    ws = world(client, db)
    plain = chart(page(client, ws))
    assert not any(s.get("compare") for s in plain["series"])
    overlaid = chart(page(client, ws, overlay="1"))
    earlier = {s["currency"]: s for s in overlaid["series"] if s.get("compare")}
    assert set(earlier) == {"USD", "EUR"}
    assert earlier["USD"]["values"] == [1.0] * 7  # day n of the period before under day n
    assert earlier["EUR"]["values"] == [3.0] * 7
    assert len(overlaid["labels"]) == 7
    # Aligned by day in the period, not by the order of the days that have data: 2-14 May
    # against 19 April-1 May, whose only day with data (1 May, day 13) stays day 13.
    gap = chart(page(client, ws, start=date(2026, 5, 2), overlay="1"))
    [usd] = [s for s in gap["series"] if s.get("compare") and s["currency"] == "USD"]
    assert usd["values"] == [None] * 12 + [1.0]
    assert len(gap["labels"]) == 13
    year = chart(page(client, ws, compare="year", overlay="1"))  # a year before, day by day
    assert [s["values"] for s in year["series"] if s.get("compare")] == [[4.0] * 7]


def chart(html: str) -> dict[str, Any]:
    found = re.search(r'<div id="chart-data" data-chart="([^"]*)" hidden>', html)
    assert found
    data: dict[str, Any] = json.loads(unescape(found.group(1)))
    return data


def test_a_cost_going_up_is_bad_and_periods_keep_their_length() -> None:
    assert change("cpa", "12", "10").tone == "bad"
    assert change("conversion.cost_per", "8", "10").tone == "good"
    assert change("roas", "3", "2").tone == "good"
    assert change("spend", "3", "2").tone == "neutral"
    assert change("clicks", "5", "0").ratio is None
    assert earlier_period(date(2026, 3, 1), date(2026, 3, 31), "previous") == (
        date(2026, 1, 29),
        date(2026, 2, 28),
    )
    assert earlier_period(date(2028, 2, 29), date(2028, 3, 6), "year") == (
        date(2027, 2, 28),
        date(2027, 3, 6),
    )
