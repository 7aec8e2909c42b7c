"""The query API's action figures on hand-made data: the attribution choice at every level,
the mixed-settings flag, per action type columns (custom conversions by name) and workspace
conversions; action facts replaced per ad-day by the writer."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.facts.actions import AdDayFigures, write_action_facts
from metricx.models import CustomConversion, Entity, Level
from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.metrics.test_query import entity, fact, ingest

DAY = date(2026, 3, 1)
PURCHASE = "offsite_conversion.fb_pixel_purchase"
CUSTOM_ID = "2345678901"
CUSTOM = f"offsite_conversion.custom.{CUSTOM_ID}"
D = Decimal


class World:
    def __init__(self, db: Session, client: TestClient) -> None:
        self.ws = make_keyed_workspace(db)
        acct = entity(db, self.ws, Level.ACCOUNT)
        self.campaign = entity(db, self.ws, Level.CAMPAIGN, acct, name="Sales")
        self.campaign.goal = "sales"
        self.set_a = entity(db, self.ws, Level.ADSET, self.campaign, name="A 7d_click_1d_view")
        self.set_b = entity(db, self.ws, Level.ADSET, self.campaign, name="B 1d_click")
        self.ad_a = entity(db, self.ws, Level.AD, self.set_a)
        self.ad_b = entity(db, self.ws, Level.AD, self.set_b)
        db.add(
            CustomConversion(
                workspace_id=self.ws.workspace.id,
                external_id=CUSTOM_ID,
                account_external_id="act_1001",
                name="Thank-you page",
                custom_event_type="PURCHASE",
            )
        )
        db.flush()
        at = datetime(2026, 3, 1, tzinfo=UTC)
        ingest(
            client,
            self.ws,
            [
                fact(
                    self.ad_a,
                    at,
                    "day",
                    spend="40.00",
                    purchases="6",
                    purchase_value="311.50",
                    conversions="6",
                    leads="0",
                ),
                fact(
                    self.ad_b,
                    at,
                    "day",
                    spend="10.00",
                    purchases="2",
                    purchase_value="20",
                    conversions="2",
                    leads="0",
                ),
            ],
        )
        write(
            db,
            self,
            [
                figures(
                    self.ad_a,
                    "1d_view,7d_click",
                    [
                        (PURCHASE, "default", "6", "311.50"),
                        (PURCHASE, "1d_click", "3", "150.25"),
                        (PURCHASE, "7d_click", "5", "262.00"),
                        (PURCHASE, "1d_view", "1", "49.50"),
                        (PURCHASE, "28d_click", "7", "330.10"),
                        (CUSTOM, "default", "2", "80"),
                        (CUSTOM, "7d_click", "2", "80"),
                        ("link_click", "default", "88", None),
                        ("link_click", "1d_click", "88", None),
                    ],
                ),
                figures(
                    self.ad_b,
                    "1d_click",
                    [
                        (PURCHASE, "default", "2", "20"),
                        (PURCHASE, "1d_click", "2", "20"),
                        (PURCHASE, "7d_click", "4", "41"),
                    ],
                ),
            ],
        )


def figures(ad: Entity, setting: str, rows: list[tuple[str, str, str, str | None]]) -> AdDayFigures:
    return AdDayFigures(
        external_id=ad.external_id,
        day=DAY,
        attribution_setting=setting,
        figures=[(t, w, D(n), None if v is None else D(v)) for t, w, n, v in rows],
    )


def write(db: Session, world: World, ad_days: list[AdDayFigures]) -> Any:
    return write_action_facts(
        db,
        workspace_id=world.ws.workspace.id,
        provider="meta",
        currency="USD",
        fetch_id=None,
        ad_days=ad_days,
    )


def ask(client: TestClient, ws: KeyedWorkspace, status: int = 200, **params: Any) -> Any:
    r = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/query",
        params={"start": DAY.isoformat(), "end": DAY.isoformat(), **params},
        headers=ws.headers,
    )
    assert r.status_code == status, r.text
    return r.json()


def by_name(answer: Any) -> dict[str, Any]:
    return {g["name"]: g for g in answer["groups"]}


def test_default_attribution_flags_a_campaign_mixing_settings(
    client: TestClient, db: Session
) -> None:
    w = World(db, client)
    out = ask(client, w.ws, level="campaign", group_by="entity")
    (campaign,) = out["groups"]
    assert campaign["purchases"] == "8.00" and campaign["attribution_mixed"] is True
    assert out["attribution"] == "default" and out["attribution_mixed"] is True
    assert out["totals"][0]["attribution_mixed"] is True
    assert any("attribution_mixed" in n and "1d_click; 1d_view,7d_click" in n for n in out["notes"])
    adsets = by_name(ask(client, w.ws, level="adset", group_by="entity"))
    assert adsets["A 7d_click_1d_view"]["attribution_mixed"] is False
    assert adsets["B 1d_click"]["attribution_mixed"] is False
    ads = ask(client, w.ws, level="ad", group_by="entity")
    assert not any(g["attribution_mixed"] for g in ads["groups"])
    assert ads["totals"][0]["attribution_mixed"] is True  # the ads' sum mixes them again
    ungrouped = ask(client, w.ws, level="ad")
    assert ungrouped["totals"][0]["attribution_mixed"] is True
    # Filtered to entities: the settings of the ads under them only.
    one_set = ask(client, w.ws, level="ad", entity_id=str(w.set_a.id))
    assert one_set["attribution_mixed"] is False
    assert one_set["totals"][0]["purchases"] == adsets["A 7d_click_1d_view"]["purchases"]
    assert ask(client, w.ws, entity_id=str(w.campaign.id))["attribution_mixed"] is True
    two = ask(client, w.ws, level="adset", group_by="entity", entity_id=str(w.campaign.id))
    assert not any(g["attribution_mixed"] for g in two["groups"])


def test_fixed_windows_sum_those_windows_at_every_level(client: TestClient, db: Session) -> None:
    w = World(db, client)
    for level, group_by in (
        ("ad", "entity"),
        ("adset", "entity"),
        ("campaign", "entity"),
        ("account", "entity"),
        ("workspace", "none"),
    ):
        out = ask(client, w.ws, level=level, group_by=group_by, attribution="7d_click,1d_view")
        assert out["attribution"] == "1d_view,7d_click" and out["attribution_mixed"] is False
        total = out["totals"][0]
        # ad A: 5 (7d_click) + 1 (1d_view); ad B: 4 (7d_click), no 1d_view.
        assert (total["purchases"], total["purchase_value"]) == ("10.00", "352.50"), level
        assert total["conversions"] == "10.00" and total["cpa"] == "5.00"
        assert total["roas"] == float(D("352.50")) / 50
    adsets = by_name(ask(client, w.ws, level="adset", group_by="entity", attribution="1d_click"))
    assert adsets["A 7d_click_1d_view"]["purchases"] == "3.00"
    assert adsets["B 1d_click"]["purchases"] == "2.00"
    series = ask(client, w.ws, level="workspace", attribution="28d_click")["series"]
    assert [(p["bucket"], p["purchases"], p["purchase_value"]) for p in series] == [
        ("2026-03-01", "7.00", "330.10")
    ]


def test_action_columns_name_custom_conversions(client: TestClient, db: Session) -> None:
    w = World(db, client)
    out = ask(client, w.ws, level="ad", group_by="entity", actions=f"{CUSTOM},link_click")
    total = out["totals"][0]["actions"]
    assert total[CUSTOM] == {
        "name": "Thank-you page",
        "count": "2.00",
        "value": "80.00",
        "cost_per": "25.00",
    }
    assert total["link_click"]["count"] == "88.00" and total["link_click"]["value"] is None
    rows = {g["group"]: g["actions"] for g in out["groups"]}
    assert rows[str(w.ad_b.id)][CUSTOM]["count"] == "0.00"
    assert rows[str(w.ad_a.id)][CUSTOM]["cost_per"] == "20.00"
    windowed = ask(client, w.ws, level="workspace", actions=PURCHASE, attribution="1d_click")
    assert windowed["totals"][0]["actions"][PURCHASE]["count"] == "5.00"
    assert windowed["series"][0]["actions"][PURCHASE]["value"] == "170.25"


def test_workspace_conversion_as_a_measure(client: TestClient, db: Session) -> None:
    w = World(db, client)
    base = f"/api/v1/workspaces/{w.ws.workspace.id}/conversions"
    r = client.post(
        base,
        json={
            "name": "Sales (pixel + thank-you)",
            "action_types": [PURCHASE],
            "custom_conversion_ids": [CUSTOM_ID],
        },
        headers=w.ws.headers,
    )
    assert r.status_code == 201, r.text
    out = ask(
        client, w.ws, level="campaign", group_by="entity", conversion="Sales (pixel + thank-you)"
    )
    conv = out["groups"][0]["conversion"]
    assert conv["count"] == "10.00" and conv["value"] == "411.50"
    assert conv["cost_per"] == "5.00" and conv["roas"] == float(D("411.50")) / 50
    client.patch(
        f"{base}/{r.json()['id']}",
        json={"value_source": "fixed", "fixed_value": "30"},
        headers=w.ws.headers,
    ).raise_for_status()
    out = ask(
        client,
        w.ws,
        level="workspace",
        attribution="7d_click",
        conversion="Sales (pixel + thank-you)",
    )
    assert out["totals"][0]["conversion"]["count"] == "11.00"  # 5 + 2 + 4
    assert out["totals"][0]["conversion"]["value"] == "330.00"


def test_bad_attribution_actions_or_conversion_are_422(client: TestClient, db: Session) -> None:
    w = World(db, client)
    for params, field in (
        ({"attribution": "7d_view"}, "attribution"),
        ({"attribution": "default,1d_click"}, "attribution"),
        ({"actions": "Robert'); DROP"}, "actions"),
        ({"conversion": "nope"}, "conversion"),
    ):
        body = ask(client, w.ws, 422, **params)
        assert body["error"]["details"]["field"] == field, params


def test_an_ad_day_is_replaced_whole_and_identical_resends_write_nothing(
    client: TestClient, db: Session
) -> None:
    w = World(db, client)
    again = write(
        db,
        w,
        [
            figures(
                w.ad_b,
                "1d_click",
                [
                    (PURCHASE, "default", "2", "20"),
                    (PURCHASE, "1d_click", "2", "20"),
                    (PURCHASE, "7d_click", "4", "41"),
                ],
            )
        ],
    )
    assert (again.ad_days, again.written, again.deleted) == (1, 0, 0)
    revised = write(
        db, w, [figures(w.ad_a, "1d_view,7d_click", [(PURCHASE, "default", "7", "320")])]
    )
    assert (revised.written, revised.deleted) == (1, 8)
    rows = db.execute(
        text('SELECT action_type, "window", count FROM action_facts WHERE entity_id = :e'),
        {"e": w.ad_a.id},
    ).all()
    assert [tuple(r) for r in rows] == [(PURCHASE, "default", D(7))]
    gone = write(db, w, [figures(w.ad_a, "1d_view,7d_click", [])])
    assert gone.deleted == 1
    assert (
        db.execute(
            text("SELECT count(*) FROM action_facts WHERE entity_id = :e"), {"e": w.ad_a.id}
        ).scalar_one()
        == 0
    )
    part = db.execute(
        text("SELECT DISTINCT tableoid::regclass::text FROM action_facts WHERE entity_id = :e"),
        {"e": w.ad_b.id},
    ).scalar_one()
    assert part == "action_facts_p2026_03"


def test_action_types_seen_are_listed_with_names(client: TestClient, db: Session) -> None:
    w = World(db, client)
    r = client.get(f"/api/v1/workspaces/{w.ws.workspace.id}/action-types", headers=w.ws.headers)
    assert r.status_code == 200, r.text
    got = {t["action_type"]: t for t in r.json()["action_types"]}
    assert set(got) == {PURCHASE, CUSTOM, "link_click"}
    assert (
        got[CUSTOM]["name"] == "Thank-you page" and got[CUSTOM]["custom_conversion_id"] == CUSTOM_ID
    )
    assert got[PURCHASE]["ad_days"] == 2 and got[PURCHASE]["newest_day"] == "2026-03-01"


def test_csv_export_flattens_action_and_conversion_columns(client: TestClient, db: Session) -> None:
    w = World(db, client)
    client.post(
        f"/api/v1/workspaces/{w.ws.workspace.id}/conversions",
        json={"name": "Sales", "action_types": [PURCHASE], "custom_conversion_ids": [CUSTOM_ID]},
        headers=w.ws.headers,
    ).raise_for_status()
    r = client.get(
        f"/api/v1/workspaces/{w.ws.workspace.id}/metrics/query",
        params={
            "start": DAY.isoformat(),
            "end": DAY.isoformat(),
            "level": "workspace",
            "actions": f"{CUSTOM},link_click",
            "conversion": "Sales",
            "format": "csv",
        },
        headers=w.ws.headers,
    )
    assert r.status_code == 200, r.text
    (row,) = list(csv.DictReader(io.StringIO(r.text)))
    assert row["bucket"] == "2026-03-01" and row["spend"] == "50.00"
    assert (row[f"action:{CUSTOM}:count"], row[f"action:{CUSTOM}:value"]) == ("2.00", "80.00")
    assert row[f"action:{CUSTOM}:cost_per"] == "25.00"
    assert row["action:link_click:count"] == "88.00" and row["action:link_click:value"] == ""
    assert (row["conversion_count"], row["conversion_value"]) == ("10.00", "411.50")
    assert row["conversion_cost_per"] == "5.00"
    assert float(row["conversion_roas"]) == float(D("411.50")) / 50
    assert "actions" not in row and "conversion" not in row  # no Python reprs in a cell
