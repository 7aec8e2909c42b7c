"""The dashboard's parity columns over HTTP: column sets, "Clicks (all)", reach and frequency
for the range from Meta's figure for that range (pending while it is fetched), attribution."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.facts.actions import AdDayFigures, write_action_facts
from metricx.metrics.reach import queueing_lock
from metricx.models import Connection, ConnectionStatus, Entity, Level, Provider
from tests.factories import KeyedWorkspace, join, make_keyed_workspace, make_user
from tests.metrics.test_query import entity, fact, ingest
from tests.web.test_pages import sign_in

SINCE, UNTIL = date(2026, 5, 1), date(2026, 5, 3)


def world(client: TestClient, db: Session) -> tuple[KeyedWorkspace, Connection, list[Entity]]:
    """A signed-in member's workspace: one UTC ad account with two campaigns of one ad each,
    three days of facts."""
    ws = make_keyed_workspace(db)
    conn = Connection(
        workspace_id=ws.workspace.id,
        provider=Provider.META,
        external_account_id="act_1001",
        name="Shoes",
        currency="USD",
        timezone="UTC",
        status=ConnectionStatus.ACTIVE,
    )
    db.add(conn)
    db.flush()
    account = entity(db, ws, Level.ACCOUNT, name="Shoes")
    account.external_id = conn.external_account_id  # as the entity sync stores it
    made = [account]
    for c in range(2):
        camp = entity(db, ws, Level.CAMPAIGN, account, name=f"Campaign {c}")
        adset = entity(db, ws, Level.ADSET, camp)
        made += [camp, adset, entity(db, ws, Level.AD, adset)]
    for e in made:
        e.connection_id = conn.id
    db.flush()
    ads = [e for e in made if e.level is Level.AD]
    days = [datetime(2026, 5, d, tzinfo=UTC) for d in (1, 2, 3)]
    ingest(client, ws, [fact(ad, d, "day") for ad in ads for d in days])
    user = make_user(db)
    join(db, ws.workspace, user)
    sign_in(client, user.email)
    return ws, conn, made


def store_reach(db: Session, ws: KeyedWorkspace, e: Entity, reach: int, impressions: int) -> None:
    db.execute(
        text(
            "INSERT INTO reach_ranges (workspace_id, entity_id, since, until, level, reach,"
            " impressions) VALUES (:ws, :e, :s, :u, :l, :r, :i)"
        ),
        {
            "ws": ws.workspace.id,
            "e": e.id,
            "s": SINCE,
            "u": UNTIL,
            "l": e.level.value,
            "r": reach,
            "i": impressions,
        },
    )


def page(client: TestClient, ws: KeyedWorkspace, **params: Any) -> str:
    query = {"range": "custom", "start": SINCE, "end": UNTIL, "granularity": "day", **params}
    answer = client.get(f"/w/{ws.workspace.id}", params=query)
    assert answer.status_code == 200, answer.text
    return answer.text


def cells(html: str, entity_id: object, col: str) -> list[str]:
    row = re.search(rf'<tr data-entity="{entity_id}">(.*?)</tr>', html, re.S)
    assert row, entity_id
    return re.findall(rf'data-col="{col}" data-value="([^"]*)"', row.group(1))


def test_reach_and_frequency_for_the_range_are_metas_figure_for_it(
    client: TestClient, db: Session
) -> None:
    ws, _, made = world(client, db)
    account, camp0, camp1 = made[0], made[1], made[4]
    store_reach(db, ws, account, 250, 600)
    store_reach(db, ws, camp0, 180, 300)
    store_reach(db, ws, camp1, 120, 300)
    html = page(client, ws)
    assert cells(html, camp0.id, "reach") == ["180"]
    assert cells(html, camp1.id, "reach") == ["120"]
    assert cells(html, camp0.id, "frequency") == [str(300 / 180)]
    assert 'data-metric="reach"' in html and 'data-value="250"' in html  # the account's total
    assert "reach-pending" not in html


def test_a_range_not_fetched_yet_shows_pending_and_queues_its_fetch(
    client: TestClient, db: Session
) -> None:
    ws, conn, made = world(client, db)
    html = page(client, ws)
    assert cells(html, made[1].id, "reach") == [""]
    assert 'class="pending"' in html and 'id="reach-pending"' in html
    assert 'hx-trigger="every 2s"' in html  # the panel asks again until the figure is there
    jobs = db.execute(
        text("SELECT count(*) FROM procrastinate_jobs WHERE queueing_lock = :lock"),
        {"lock": queueing_lock(conn.id, (SINCE, UNTIL))},
    ).scalar_one()
    assert jobs == 1
    store_reach(db, ws, made[0], 250, 600)  # the job's answer: no campaign row means none
    store_reach(db, ws, made[1], 180, 300)
    again = page(client, ws)
    assert cells(again, made[1].id, "reach") == ["180"] and "reach-pending" not in again


def test_column_sets_and_clicks_all_label(client: TestClient, db: Session) -> None:
    ws, _, _ = world(client, db)
    default = page(client, ws)
    for label in ("Results", "Cost per result", "Reach", "Frequency", "CTR (link)", "CPC (link)"):
        assert f">{label}<" in default or f">{label}</a>" in default or label in default
    clicks = page(client, ws, columns="clicks")
    assert "Clicks (all)" in clicks and "CTR (all)" in clicks and "Landing page views" in clicks
    video = page(client, ws, columns="video")
    assert "ThruPlays" in video and "Cost per ThruPlay" in video and "Avg. play time" in video
    conversions = page(client, ws, columns="conversions")
    assert "Purchase value" in conversions and "ROAS" in conversions
    # The choice survives in the page's links (sorting, drill-down).
    assert "columns=video" in video


def test_attribution_choice_is_kept_in_the_page(client: TestClient, db: Session) -> None:
    ws, _, _ = world(client, db)
    html = page(client, ws, attribution="7d_click")
    assert re.search(r'<option value="7d_click" selected', html)
    assert "attribution=7d_click" in html
    unknown = page(client, ws, attribution="nonsense")
    assert re.search(r'<option value="default" selected', unknown)


def test_a_workspace_conversion_adds_its_columns_and_tiles(client: TestClient, db: Session) -> None:
    ws, _, made = world(client, db)
    plain = page(client, ws)
    assert 'id="f-conversion"' not in plain  # no conversion defined: no menu
    made_conv = client.post(
        f"/api/v1/workspaces/{ws.workspace.id}/conversions",
        json={"name": "Leads & sales", "action_types": ["lead"], "value_source": "fixed",
              "fixed_value": "12.50"},
        headers=ws.headers,
    )  # fmt: skip
    assert made_conv.status_code == 201, made_conv.text
    write_action_facts(
        db,
        workspace_id=ws.workspace.id,
        provider="meta",
        currency="USD",
        fetch_id=None,
        ad_days=[
            AdDayFigures(
                external_id=made[3].external_id,
                day=SINCE,
                attribution_setting="7d_click",
                figures=[("lead", "default", Decimal(4), None)],
            )
        ],
    )
    menu = page(client, ws)
    assert re.search(r'<option value="Leads &amp; sales"\s*>', menu)
    html = page(client, ws, conversion="Leads & sales")
    assert re.search(r'<option value="Leads &amp; sales" selected', html)
    for label in (
        "Leads &amp; sales value",
        "Cost per Leads &amp; sales",
        "Leads &amp; sales ROAS",
    ):
        assert label in html
    # Campaign 0's ad had 4 leads on 1 May; campaign 1's none (no cost per, no ROAS).
    assert cells(html, made[1].id, "conversion.count") == ["4.00"]
    assert cells(html, made[1].id, "conversion.value") == ["50.00"]
    assert cells(html, made[4].id, "conversion.count") == ["0.00"]
    assert cells(html, made[4].id, "conversion.cost_per") == [""]
    assert 'data-metric="conversion.count"' in html
    assert "conversion=Leads" in html  # kept in the page's links
    # A name that is not (or no longer) the workspace's is dropped, not an error.
    unknown = page(client, ws, conversion="Gone")
    assert "conversion.count" not in unknown
