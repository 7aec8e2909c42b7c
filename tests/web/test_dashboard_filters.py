"""The dashboard's filters, column picker, saved views and CSV downloads over HTTP: account,
campaign name search and delivery status narrow the table and the totals; a picked column set
is kept in the page's links; a saved view is the page's question under a name; the table's
CSV is exactly the table."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.models import (
    Connection,
    ConnectionStatus,
    Entity,
    Level,
    Provider,
    Role,
    SavedView,
)
from metricx.web.dashboard_view import ROWS_SHOWN
from tests.factories import KeyedWorkspace, join, make_keyed_workspace, make_user
from tests.metrics.test_query import entity, fact, ingest, query
from tests.web.test_dashboard_columns import cells, store_reach
from tests.web.test_pages import sign_in

SINCE, UNTIL = date(2026, 5, 1), date(2026, 5, 3)  # the days store_reach writes
# (account, currency, campaign name, effective status, spend per ad-day)
CAMPAIGNS = (
    ("Shoes", "USD", "Spring sale 50%_off", "ACTIVE", "3.00"),
    ("Shoes", "USD", "Retargeting", "PAUSED", "2.00"),
    ("Hats", "EUR", "spring launch", "ACTIVE", "5.00"),
    ("Hats", "EUR", "Old promo", "ARCHIVED", "1.00"),
)


class World:
    def __init__(self, ws: KeyedWorkspace, email: str) -> None:
        self.ws = ws
        self.email = email
        self.csrf = ""
        self.connections: dict[str, Connection] = {}
        self.campaigns: dict[str, Entity] = {}

    @property
    def base(self) -> str:
        return f"/w/{self.ws.workspace.id}"


def world(client: TestClient, db: Session) -> World:
    """A signed-in member's workspace: two ad accounts (USD and EUR), four campaigns of one
    ad each with the statuses above, two days of facts."""
    ws = make_keyed_workspace(db)
    user = make_user(db)
    join(db, ws.workspace, user)
    w = World(ws, user.email)
    facts = []
    for i, (account_name, currency, name, status, spend) in enumerate(CAMPAIGNS):
        conn = w.connections.get(account_name)
        if conn is None:
            conn = Connection(
                workspace_id=ws.workspace.id,
                provider=Provider.META,
                external_account_id=f"act_{1000 + i}",
                name=account_name,
                currency=currency,
                timezone="UTC",
                status=ConnectionStatus.ACTIVE,
            )
            db.add(conn)
            db.flush()
            w.connections[account_name] = conn
            account = entity(db, ws, Level.ACCOUNT, name=account_name)
            account.external_id, account.connection_id = conn.external_account_id, conn.id
            w.campaigns[account_name] = account
        account = w.campaigns[account_name]
        camp = entity(db, ws, Level.CAMPAIGN, account, name=name)
        camp.effective_status = status
        adset = entity(db, ws, Level.ADSET, camp)
        adset.result_type = "link_click" if i % 2 else "offsite_conversion.fb_pixel_purchase"
        ad = entity(db, ws, Level.AD, adset)
        for e in (camp, adset, ad):
            e.connection_id = conn.id
        w.campaigns[name] = camp
        for d in (1, 2):
            at = datetime(2026, 5, d, tzinfo=UTC)
            facts.append(fact(ad, at, "day", currency=currency, spend=spend))
    db.flush()
    ingest(client, ws, facts)
    w.csrf = sign_in(client, user.email)
    return w


def page(client: TestClient, w: World, **params: Any) -> str:
    query = {"range": "custom", "start": SINCE, "end": UNTIL, **params}
    answer = client.get(w.base, params=query)
    assert answer.status_code == 200, answer.text
    return answer.text


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-entity="([^"]+)">', html)


def total_spend(html: str) -> dict[str, Decimal]:
    found = re.findall(
        r'<tr class="total" data-currency="(\w+)">.*?data-col="spend" data-value="([^"]*)"',
        html,
        re.S,
    )
    return {cur: Decimal(v) for cur, v in found}


def ids(w: World, *names: str) -> set[str]:
    return {str(w.campaigns[n].id) for n in names}


def test_account_filter_narrows_rows_and_totals(client: TestClient, db: Session) -> None:
    w = world(client, db)
    everything = page(client, w)
    assert set(rows(everything)) == ids(w, *(c[2] for c in CAMPAIGNS))
    assert total_spend(everything) == {"USD": Decimal("10.00"), "EUR": Decimal("12.00")}
    hats = w.connections["Hats"].id
    html = page(client, w, account=str(hats))
    assert set(rows(html)) == ids(w, "spring launch", "Old promo")
    assert total_spend(html) == {"EUR": Decimal("12.00")}
    assert re.search(rf'<option value="{hats}" selected>Hats</option>', html)
    assert f"account={hats}" in html  # kept in the sort and drill-down links
    # An account that is not the workspace's is dropped, not an error, and shows everything.
    other = page(client, w, account="00000000-0000-0000-0000-000000000001")
    assert set(rows(other)) == set(rows(everything))


def test_campaign_search_is_literal_and_case_insensitive(client: TestClient, db: Session) -> None:
    w = world(client, db)
    html = page(client, w, q="  SPRING ")
    assert set(rows(html)) == ids(w, "Spring sale 50%_off", "spring launch")
    assert 'value="SPRING"' in html and "q=SPRING" in html
    assert total_spend(html) == {"USD": Decimal("6.00"), "EUR": Decimal("10.00")}
    literal = page(client, w, q="50%_")  # not LIKE wildcards
    assert set(rows(literal)) == ids(w, "Spring sale 50%_off")
    wildcard = page(client, w, q="%")
    assert set(rows(wildcard)) == ids(w, "Spring sale 50%_off")
    # The search applies below campaigns too: ad sets of matching campaigns only.
    adsets = page(client, w, q="launch", level="adset")
    assert len(rows(adsets)) == 1
    none = page(client, w, q="nothing like it")
    assert "No campaign's name contains \u201cnothing like it\u201d." in unescape(none)
    assert 'id="clear-filters"' in none and rows(none) == []
    nul = client.get(w.base, params={"q": "spr\x00ing"})
    assert nul.status_code == 422 and "query.q" in nul.text  # said where, not a 500
    # The search box suggests the workspace's campaign names.
    assert '<option value="Retargeting">' in html


def test_delivery_filter_reads_the_rows_statuses(client: TestClient, db: Session) -> None:
    w = world(client, db)
    active = page(client, w, status="active")
    assert set(rows(active)) == ids(w, "Spring sale 50%_off", "spring launch")
    paused = page(client, w, status="paused")
    assert set(rows(paused)) == ids(w, "Retargeting")
    assert total_spend(paused) == {"USD": Decimal("4.00")}
    archived = page(client, w, status="archived", account=str(w.connections["Shoes"].id))
    assert rows(archived) == []
    unknown = page(client, w, status="bogus")
    assert len(rows(unknown)) == len(CAMPAIGNS)


def test_picked_columns_are_shown_in_order_and_kept(client: TestClient, db: Session) -> None:
    w = world(client, db)
    answer = client.get(
        w.base,
        params=[
            ("range", "custom"),
            ("start", str(SINCE)),
            ("end", str(UNTIL)),
            ("columns", "custom"),
            ("col", "ctr"),
            ("col", "spend"),
            ("col", "nonsense"),
            ("col", "impressions"),
        ],
    )
    assert answer.status_code == 200
    html = answer.text
    head = html[html.index('<table class="data"') : html.index("</thead>")]
    assert re.findall(r'<th scope="col" class="num" data-col="([^"]+)"', head) == [
        "spend",
        "impressions",
        "ctr",
    ]
    assert "cols=spend%2Cimpressions%2Cctr" in html  # in the sort and drill-down links
    assert '<option value="custom" selected>Custom</option>' in html
    spring = w.campaigns["Spring sale 50%_off"].id
    assert cells(html, spring, "spend") == ["6.00"]
    assert cells(html, spring, "impressions") == ["200"]
    # A preset picked again replaces the picked columns.
    preset = page(client, w, columns="clicks", cols="spend,ctr")
    assert "cols=" not in preset and 'data-col="landing_page_views"' in preset


def test_saved_views_save_replace_open_and_delete(client: TestClient, db: Session) -> None:
    w = world(client, db)
    query = f"range=custom&start={SINCE}&end={UNTIL}&status=active&q=spring&bogus=1"
    headers = {"X-CSRF-Token": w.csrf}
    refused = client.post(f"{w.base}/views", data={"name": "Spring", "query": query})
    assert refused.status_code == 403  # no CSRF token
    saved = client.post(
        f"{w.base}/views",
        data={"name": "  Spring   active ", "query": query},
        headers={**headers, "HX-Request": "true"},
    )
    assert saved.status_code == 204, saved.text
    target = saved.headers["HX-Redirect"]
    assert "status=active" in target and "q=spring" in target and "bogus" not in target
    [view] = db.query(SavedView).filter_by(workspace_id=w.ws.workspace.id).all()
    assert view.name == "Spring active" and "bogus" not in view.query
    opened = client.get(target)
    assert set(rows(opened.text)) == ids(w, "Spring sale 50%_off", "spring launch")
    assert 'class="view-link current"' in opened.text
    # The same name again takes the new question.
    client.post(
        f"{w.base}/views",
        data={"name": "Spring active", "query": "range=7d&level=ad"},
        headers=headers,
    )
    db.expire_all()
    [view] = db.query(SavedView).filter_by(workspace_id=w.ws.workspace.id).all()
    assert "level=ad" in view.query
    for bad, why in (({"name": " ", "query": ""}, "name"), ({"name": "x" * 101, "query": ""}, "")):
        answer = client.post(f"{w.base}/views", data=bad, headers=headers)
        assert answer.status_code == 422, answer.text
        assert why in answer.text
    nul = client.post(f"{w.base}/views", data={"name": "a\x00b", "query": ""}, headers=headers)
    assert nul.status_code == 422
    # Another workspace's member cannot delete it; its own member can.
    other = world(client, db)
    gone = client.post(f"{other.base}/views/{view.id}/delete", headers={"X-CSRF-Token": other.csrf})
    assert gone.status_code == 404
    csrf = sign_in(client, w.email)
    deleted = client.post(
        f"{w.base}/views/{view.id}/delete", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert deleted.status_code == 204 and deleted.headers["HX-Redirect"] == w.base
    assert db.query(SavedView).filter_by(workspace_id=w.ws.workspace.id).count() == 0
    assert 'class="view-link' not in client.get(w.base).text


def test_table_csv_is_exactly_the_table(client: TestClient, db: Session) -> None:
    w = world(client, db)
    params = {"sort": "spend", "order": "asc", "columns": "clicks"}
    html = page(client, w, **params)
    answer = client.get(
        f"{w.base}/export.csv",
        params={"range": "custom", "start": SINCE, "end": UNTIL, **params},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(answer.text)))
    head = html[html.index('<table class="data"') : html.index("</thead>")]
    shown = re.findall(r'data-col="([^"]+)"', head)
    assert table[0][:3] == ["Campaign", "id", "currency"] and len(table[0]) == 3 + len(shown)
    assert [r[1] for r in table[1:] if r[0] != "Total"] == rows(html)  # same order
    for r in table[1:]:
        if r[0] == "Total":
            continue
        for key, value in zip(shown, r[3:], strict=True):
            assert cells(html, r[1], key) == [value], (r[0], key)
    totals = {r[2]: r for r in table if r[0] == "Total"}
    assert {c: Decimal(r[3 + shown.index("spend")]) for c, r in totals.items()} == total_spend(html)
    series = client.get(
        f"{w.base}/export.csv",
        params={"range": "custom", "start": SINCE, "end": UNTIL, "what": "series"},
    )
    lines = list(csv.DictReader(io.StringIO(series.text)))
    assert sum(Decimal(x["spend"]) for x in lines if x["currency"] == "EUR") == Decimal("12.00")
    bad = client.get(f"{w.base}/export.csv", params={"what": "pdf"})
    assert bad.status_code == 422 and "what" in bad.text


def test_a_narrowed_total_has_its_own_reach_and_result_type(
    client: TestClient, db: Session
) -> None:
    """Drilled into one campaign, the total is that campaign's (its reach, its ad sets'
    result type); narrowed to several campaigns, there is no deduplicated reach to show."""
    w = world(client, db)
    shoes = w.connections["Shoes"].id
    account = w.campaigns["Shoes"]
    spring, retargeting = w.campaigns["Spring sale 50%_off"], w.campaigns["Retargeting"]
    store_reach(db, w.ws, account, 900, 2000)
    store_reach(db, w.ws, spring, 700, 1000)
    store_reach(db, w.ws, retargeting, 400, 1000)

    def total(html: str, col: str) -> str:
        row = re.search(r'<tr class="total" data-currency="USD">(.*?)</tr>', html, re.S)
        assert row
        [value] = re.findall(rf'data-col="{col}" data-value="([^"]*)"', row.group(1))
        return value

    account_wide = page(client, w, account=str(shoes))
    assert total(account_wide, "reach") == "900"
    assert "Mixed" in account_wide  # its two campaigns count different results
    drilled = page(client, w, account=str(shoes), campaign=str(spring.id))
    assert total(drilled, "reach") == "700"
    assert ">Mixed<" not in drilled
    one = query(client, w.ws, start=SINCE, end=UNTIL, entity_id=str(spring.id))
    assert one["totals"][0]["result_type"] == "offsite_conversion.fb_pixel_purchase"
    both = query(client, w.ws, start=SINCE, end=UNTIL, connection_id=str(shoes))
    assert both["totals"][0]["result_type"] == "mixed"
    searched = page(client, w, account=str(shoes), q="r")  # both of the account's campaigns
    assert total(searched, "reach") == ""
    assert "reach is not shown for the total of a filtered selection" in searched
    paused = page(client, w, account=str(shoes), status="paused")
    assert total(paused, "reach") == ""
    # The status filter keeps one campaign: the total counts its ad sets' results only.
    active = query(client, w.ws, start=SINCE, end=UNTIL, connection_id=str(shoes),
                   status="ACTIVE", group_by="entity", level="campaign")  # fmt: skip
    assert [g["group"] for g in active["groups"]] == [str(spring.id)]
    assert active["totals"][0]["result_type"] == "offsite_conversion.fb_pixel_purchase"


def test_a_viewer_opens_saved_views_but_does_not_change_them(
    client: TestClient, db: Session
) -> None:
    w = world(client, db)
    client.post(
        f"{w.base}/views",
        data={"name": "Team view", "query": "range=7d"},
        headers={"X-CSRF-Token": w.csrf},
    )
    [view] = db.query(SavedView).filter_by(workspace_id=w.ws.workspace.id).all()
    viewer = make_user(db)
    join(db, w.ws.workspace, viewer, role=Role.VIEWER)
    csrf = sign_in(client, viewer.email)
    html = client.get(w.base).text
    assert 'class="view-link' in html and 'id="save-view"' not in html
    assert "delete-view" not in html
    for path, data in ((f"{w.base}/views", {"name": "Mine", "query": ""}),
                       (f"{w.base}/views/{view.id}/delete", {})):  # fmt: skip
        answer = client.post(path, data=data, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 403, answer.text
    assert db.query(SavedView).filter_by(workspace_id=w.ws.workspace.id).count() == 1


def test_the_table_shows_its_first_rows_and_more_on_demand(client: TestClient, db: Session) -> None:
    """Past ROWS_SHOWN rows the table shows the first ones (in its order) and links to more
    and to all; the totals are over every row whatever is shown."""
    ws = make_keyed_workspace(db)
    user = make_user(db)
    join(db, ws.workspace, user)
    account = entity(db, ws, Level.ACCOUNT, name="Big")
    facts, spend = [], {}
    for i in range(ROWS_SHOWN + 30):
        camp = entity(db, ws, Level.CAMPAIGN, account, name=f"Campaign {i:03}")
        ad = entity(db, ws, Level.AD, entity(db, ws, Level.ADSET, camp))
        spend[str(camp.id)] = Decimal(i + 1)
        facts.append(fact(ad, datetime(2026, 5, 1, tzinfo=UTC), "day", spend=f"{i + 1}.00"))
    db.flush()
    ingest(client, ws, facts)
    sign_in(client, user.email)
    w = World(ws, user.email)
    by_spend = sorted(spend, key=lambda c: spend[c], reverse=True)

    first = page(client, w)
    assert rows(first) == by_spend[:ROWS_SHOWN]
    assert total_spend(first) == {"USD": sum(spend.values())}
    assert f"first {ROWS_SHOWN} of {ROWS_SHOWN + 30} rows" in first
    more = unescape(re.search(r'href="([^"]+)"[^>]*class="show-more">Show 30 more<', first)[1])
    assert f"rows={ROWS_SHOWN * 2}" in more and "sort=spend" in more and "start=" in more
    shown_all = unescape(re.search(r'href="([^"]+)"[^>]*class="show-all"', first)[1])
    assert f"rows={ROWS_SHOWN + 30}" in shown_all

    whole = client.get(more).text
    assert rows(whole) == by_spend
    assert total_spend(whole) == total_spend(first)
    assert 'class="show-more"' not in whole
    # Sorting keeps the rows asked for; a bad or small count shows the first page.
    ascending = page(client, w, sort="spend", order="asc", rows=str(ROWS_SHOWN + 30))
    assert rows(ascending) == by_spend[::-1]
    for bad in ("-5", "abc", "1e9", "3"):
        assert rows(page(client, w, rows=bad)) == by_spend[:ROWS_SHOWN], bad
