"""The dashboard's Breakdown menu over HTTP, on breakdown rows written with write_breakdowns:
the table has a row per value (or per campaign and value), the bars and the age x gender grid
carry the rows' figures, the reconciliation compares the breakdown's sum with the unbroken
total, the choices the query layer refuses are said on the page, and the CSV download is the
table."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.facts.breakdowns import BREAKDOWN_SETS, BreakdownRow, write_breakdowns
from metricx.models import Connection, Entity, Level
from metricx.web.dashboard_breakdown import value_label
from metricx.web.dashboard_view import BREAKDOWNS
from tests.factories import KeyedWorkspace
from tests.web.test_dashboard_columns import SINCE, UNTIL, world

D = Decimal
DAYS = [SINCE + timedelta(days=i) for i in range((UNTIL - SINCE).days + 1)]
# Each ad's day (spend 1.00, 100 impressions, 2 clicks in the unbroken facts), split by value.
AGE_GENDER = [
    # (ad index, age, gender, spend, impressions, clicks)
    (0, "18-24", "female", "0.40", 40, 1),
    (0, "18-24", "male", "0.35", 35, 1),
    (0, "25-34", "female", "0.25", 25, 0),
    (1, "25-34", "male", "0.60", 60, 2),
    (1, "65+", "unknown", "0.40", 40, 0),
]
# Countries: ad 1's rows miss a cent a day (Meta's estimates need not add up).
COUNTRY = [
    (0, "US", "", "0.70", 70, 2),
    (0, "DE", "", "0.30", 30, 0),
    (1, "US", "", "0.20", 20, 1),
    (1, "FR", "", "0.79", 80, 1),
]


def bd_row(ad: Entity, day: date, spec: tuple[Any, ...]) -> BreakdownRow:
    _, key1, key2, spend, impressions, clicks = spec
    return BreakdownRow(
        external_id=ad.external_id,
        day=day,
        key1=key1,
        key2=key2,
        spend=D(spend),
        impressions=impressions,
        clicks=clicks,
        link_clicks=clicks,
        reach=None,
        conversions=None,
        leads=None,
        purchases=None,
        purchase_value=None,
        results=None,
    )


def write(db: Session, ws: KeyedWorkspace, conn: Connection, ads: list[Entity], name: str) -> None:
    specs = AGE_GENDER if name == "age_gender" else COUNTRY
    write_breakdowns(
        db,
        workspace_id=ws.workspace.id,
        connection_id=conn.id,
        provider="meta",
        breakdown=name,
        currency="USD",
        since=SINCE,
        until=UNTIL,
        campaigns=None,
        rows=[bd_row(ads[s[0]], day, s) for day in DAYS for s in specs],
        fetch_id=None,
    )


def setup(client: TestClient, db: Session) -> tuple[KeyedWorkspace, list[Entity]]:
    ws, conn, made = world(client, db)
    ads = [e for e in made if e.level is Level.AD]
    write(db, ws, conn, ads, "age_gender")
    write(db, ws, conn, ads, "country")
    return ws, made


def page(client: TestClient, ws: KeyedWorkspace, **params: Any) -> str:
    query = {"range": "custom", "start": SINCE, "end": UNTIL, **params}
    answer = client.get(f"/w/{ws.workspace.id}", params=query)
    assert answer.status_code == 200, answer.text
    return answer.text


def expected(specs: list[tuple[Any, ...]], key: Any = lambda s: (s[1], s[2])) -> dict[Any, D]:
    out: dict[Any, D] = {}
    for s in specs:
        out[key(s)] = out.get(key(s), D(0)) + D(s[3]) * len(DAYS)
    return out


def rows(html: str) -> list[tuple[str, str]]:
    """(data-breakdown, spend's data-value) of each table row, in order."""
    body = html.split('<table class="data" id="breakdown">', 1)[1].split("<tfoot>", 1)[0]
    found = []
    for tr in re.findall(r"<tr ([^>]*data-breakdown=[^>]*)>(.*?)</tr>", body, re.S):
        key = re.search(r'data-breakdown="([^"]*)"', tr[0])
        spend = re.search(r'data-col="spend" data-value="([^"]*)"', tr[1])
        assert key and spend
        found.append((key.group(1), spend.group(1)))
    return found


def test_the_menu_is_ads_managers_and_knows_every_set(client: TestClient, db: Session) -> None:
    assert set(BREAKDOWNS) == set(BREAKDOWN_SETS)
    ws, _ = setup(client, db)
    html = page(client, ws)
    menu = re.search(r'<select id="f-breakdown" name="breakdown">(.*?)</select>', html, re.S)
    assert menu
    labels = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', menu.group(1))
    assert labels == [("", "None"), *BREAKDOWNS.items()]
    assert 'optgroup label="By delivery"' in menu.group(1)
    assert "Age and gender" in menu.group(1) and "Impression device" in menu.group(1)
    assert 'id="breakdown-chart"' not in html and 'id="chart-data"' in html  # no breakdown


def test_age_and_gender_a_row_per_value_the_grid_and_the_reconciliation(
    client: TestClient, db: Session
) -> None:
    ws, _ = setup(client, db)
    html = page(client, ws, breakdown="age_gender")
    want = expected(AGE_GENDER)
    shown = rows(html)
    assert {k: D(v) for k, v in shown} == {f"{a}|{g}": s for (a, g), s in want.items()}
    assert [D(v) for _, v in shown] == sorted((D(v) for _, v in shown), reverse=True)
    assert '<option value="age_gender" selected>' in html
    assert 'data-field="age"' in html and 'data-field="gender"' in html
    # the grid: ages down, genders across, each cell the value's figure
    grid = html.split('id="age-gender"', 1)[1]
    ages = re.findall(r'<tr data-age="([^"]+)">', grid)
    assert ages == ["18-24", "25-34", "65+"]
    cells = {
        (a, g): D(v)
        for a, g, v in re.findall(
            r'data-age="([^"]+)" data-gender="([^"]+)" data-value="([^"]+)"', grid
        )
    }
    assert cells == want
    assert re.findall(r'<th scope="col" class="num" data-gender="([^"]+)">', grid) == [
        "female",
        "male",
        "unknown",
    ]
    total = re.search(r'class="num grid-total" data-value="([^"]+)"', grid)
    assert total and D(total.group(1)) == D("6.00")
    # the breakdown adds up: within tolerance
    recon = re.search(r'<li data-measure="spend" data-currency="USD"[^>]*>(.*?)</li>', html, re.S)
    assert recon, html
    text = re.sub(r"<[^>]+>", "", recon.group(1))
    assert "breakdown sum $6.00 vs total $6.00" in text and "within tolerance" in text
    # hours are no breakdown's: the menu says so
    assert re.search(r'<option value="hour"[^>]* disabled>Hour \(not with a breakdown\)', html)
    assert 'id="export-series"' not in html


def test_one_dimension_bars_follow_the_tables_sort(client: TestClient, db: Session) -> None:
    ws, _ = setup(client, db)
    html = page(client, ws, breakdown="country")
    want = expected(COUNTRY, key=lambda s: s[1])
    bars = re.findall(r'<li class="bar" data-key="([^"]+)" data-value="([^"]*)"', html)
    assert [(k, D(v)) for k, v in bars] == sorted(want.items(), key=lambda kv: -kv[1])
    assert [k for k, _ in rows(html)] == [k for k, _ in bars]
    assert re.search(r'<h2 id="bars-title">Spend by country</h2>', html)
    assert 'data-field="country" data-value="US">United States<' in html  # named, code kept
    widths = re.findall(r'<rect class="bar-fill" x="0" y="0" width="([^"]+)"', html)
    assert widths[0] == "100.00" and all(float(w) <= 100 for w in widths)
    # the reconciliation: the countries miss 3 cents of 6.00
    recon = re.search(r'<li data-measure="spend" data-currency="USD"[^>]*>(.*?)</li>', html, re.S)
    assert recon
    assert "breakdown sum $5.97 vs total $6.00 (\u22120.5%)" in re.sub(r"<[^>]+>", "", recon[1])
    # sorted by impressions: the bars chart impressions, in that order
    html = page(client, ws, breakdown="country", sort="impressions", order="desc")
    bars = re.findall(r'<li class="bar" data-key="([^"]+)" data-value="([^"]*)"', html)
    imps: dict[str, int] = {}
    for s in COUNTRY:
        imps[s[1]] = imps.get(s[1], 0) + s[4] * len(DAYS)
    assert [(k, int(v)) for k, v in bars] == sorted(imps.items(), key=lambda kv: -kv[1])
    assert 'data-measure="impressions"' in html


def test_a_row_per_campaign_and_value_drills_down(client: TestClient, db: Session) -> None:
    ws, made = setup(client, db)
    camp0, camp1 = made[1], made[4]
    html = page(client, ws, breakdown="country", breakdown_rows="entity")
    body = html.split('id="breakdown">', 1)[1].split("<tfoot>", 1)[0]
    found = re.findall(r'<tr data-entity="([^"]+)"\s+data-breakdown="([^"]+)"', body)
    want = {(str(camp0.id if s[0] == 0 else camp1.id), s[1]) for s in COUNTRY}
    assert set(found) == want and len(found) == len(want)
    assert f"campaign={camp0.id}" in body  # the campaign's name still drills down
    assert "breakdown_rows=entity" in body  # ...keeping the breakdown
    # bars: a country's rows over both campaigns summed
    bars = dict(re.findall(r'<li class="bar" data-key="([^"]+)" data-value="([^"]*)"', html))
    assert D(bars["US"]) == expected(COUNTRY, key=lambda s: s[1])["US"]
    # drilled into a campaign: its values only
    html = page(client, ws, breakdown="country", campaign=str(camp1.id))
    assert {k for k, _ in rows(html)} == {"US", "FR"}


def test_what_a_breakdown_cannot_show_is_said_not_an_error(client: TestClient, db: Session) -> None:
    ws, _ = setup(client, db)
    # hours: the page answers by day, and says so
    html = page(client, ws, breakdown="age", granularity="hour")
    assert "Breakdowns are reported per day" in html
    assert '<option value="day" selected>' in html
    # today: by day without asking
    today = client.get(f"/w/{ws.workspace.id}", params={"range": "today", "breakdown": "age"})
    assert today.status_code == 200 and "Breakdowns are reported per day" not in today.text
    # fixed attribution windows: not with a breakdown
    html = page(client, ws, breakdown="age_gender", attribution="7d_click")
    problem = re.search(r'id="query-problem">([^<]+)<', html)
    assert problem and "default attribution only" in problem.group(1)
    # columns a breakdown does not answer are blank, their headings say why
    html = page(client, ws, breakdown="age_gender", columns="video")
    assert re.search(
        r'class="num not-answered" data-col="thruplays"[^>]*title="Not available', html
    )
    assert re.findall(r'data-col="thruplays" data-value="([^"]*)"', html) == [""] * (
        len(AGE_GENDER) + 1
    )
    # an unknown breakdown is none
    html = page(client, ws, breakdown="astrology")
    assert 'id="breakdown-chart"' not in html and '<option value="" selected>None' in html


def test_the_csv_download_is_the_breakdown_table(client: TestClient, db: Session) -> None:
    ws, made = setup(client, db)
    params = {"range": "custom", "start": SINCE, "end": UNTIL, "breakdown": "age_gender"}
    html = page(client, ws, breakdown="age_gender")
    got = client.get(f"/w/{ws.workspace.id}/export.csv", params=params)
    assert got.status_code == 200, got.text
    assert "by-age_gender" in got.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(got.text)))
    assert table[0][:4] == ["Age", "Gender", "currency", "Spend"]
    body = [r for r in table[1:] if r[0] != "Total"]
    assert [(f"{r[0]}|{r[1]}", r[3]) for r in body] == rows(html)
    assert table[-1][:3] == ["Total", "", "USD"] and D(table[-1][3]) == D("6.00")
    # per campaign and value: the campaign and its id first
    got = client.get(
        f"/w/{ws.workspace.id}/export.csv", params={**params, "breakdown_rows": "entity"}
    )
    table = list(csv.reader(io.StringIO(got.text)))
    assert table[0][:5] == ["Campaign", "id", "Age", "Gender", "currency"]
    assert {r[1] for r in table[1:] if r[0] != "Total"} == {str(made[1].id), str(made[4].id)}


def test_value_labels_are_ads_managers() -> None:
    assert value_label("female") == "Female"
    assert value_label("audience_network") == "Audience Network"
    assert value_label("mobile_app") == "Mobile app"
    assert value_label("some_new_position") == "Some new position"
    assert value_label("18-24") == "18-24" and value_label("California") == "California"
    # countries by name, as Ads Manager shows them; a code nobody knows as it is
    assert value_label("US") == "United States" and value_label("GB") == "United Kingdom"
    assert value_label("KR") == "South Korea" and value_label("HK") == "Hong Kong"
    assert value_label("QQ") == "QQ"
