"""The query layer on hand-made data: DST days, a +05:30 zone, currencies, zero
denominators, roll-up from ads, daily-vs-hourly sources, CSV."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.models import Entity, Level, Provider
from tests.factories import KeyedWorkspace, make_keyed_workspace


def entity(
    db: Session,
    ws: KeyedWorkspace,
    level: Level,
    parent: Entity | None = None,
    name: str | None = None,
) -> Entity:
    e = Entity(
        workspace_id=ws.workspace.id,
        provider=Provider.META,
        level=level,
        external_id=uuid.uuid4().hex[:12],
        parent_id=parent.id if parent else None,
        name=name or f"{level.value} {uuid.uuid4().hex[:4]}",
        effective_status="ACTIVE",
    )
    db.add(e)
    db.flush()
    return e


def tree(db: Session, ws: KeyedWorkspace, ads_per_set: int = 2, campaigns: int = 1) -> list[Entity]:
    acct = entity(db, ws, Level.ACCOUNT)
    ads = []
    for c in range(campaigns):
        camp = entity(db, ws, Level.CAMPAIGN, acct, name=f"Campaign {c}")
        adset = entity(db, ws, Level.ADSET, camp)
        ads += [entity(db, ws, Level.AD, adset) for _ in range(ads_per_set)]
    return ads


def ingest(client: TestClient, ws: KeyedWorkspace, records: list[dict[str, Any]]) -> None:
    r = client.post(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/ingest",
        json={"records": records},
        headers=ws.headers,
    )
    assert r.status_code in (200, 201), r.text
    assert r.json()["failed"] == 0, r.json()["errors"]


def fact(
    ad: Entity, at: datetime, gran: str = "hour", currency: str = "USD", **m: Any
) -> dict[str, Any]:
    return {
        "entity_id": str(ad.id),
        "event_at": at.isoformat(),
        "granularity": gran,
        "currency": currency,
        "spend": "1.00",
        "impressions": 100,
        "clicks": 2,
        **m,
    }


def query(client: TestClient, ws: KeyedWorkspace, **params: Any) -> Any:
    r = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/query", params=params, headers=ws.headers
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_dst_fall_back_day_has_25_hourly_buckets(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db, timezone="America/New_York")
    (ad,) = tree(db, ws, ads_per_set=1)
    # 2026-11-01 in New York: 00:00 EDT = 04:00Z ... next midnight EST = 05:00Z next day.
    start = datetime(2026, 11, 1, 4, tzinfo=UTC)
    ingest(client, ws, [fact(ad, start + timedelta(hours=h)) for h in range(25)])
    hourly = query(client, ws, start="2026-11-01", end="2026-11-01", granularity="hour")
    buckets = [p["bucket"] for p in hourly["series"]]
    assert len(buckets) == 25
    assert buckets.count("2026-11-01T01:00:00-04:00") == 1
    assert "2026-11-01T01:00:00-05:00" in buckets  # the repeated hour stays its own bucket
    daily = query(client, ws, start="2026-11-01", end="2026-11-01", granularity="day")
    assert [p["bucket"] for p in daily["series"]] == ["2026-11-01"]
    assert daily["series"][0]["spend"] == "25.00"
    assert daily["series"][0]["impressions"] == 2500


def test_dst_spring_forward_day_has_23_hours(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db, timezone="America/New_York")
    (ad,) = tree(db, ws, ads_per_set=1)
    start = datetime(2026, 3, 8, 5, tzinfo=UTC)  # 00:00 EST
    ingest(client, ws, [fact(ad, start + timedelta(hours=h)) for h in range(23)])
    hourly = query(client, ws, start="2026-03-08", end="2026-03-08", granularity="hour")
    assert len(hourly["series"]) == 23
    assert "2026-03-08T02:00:00-05:00" not in [p["bucket"] for p in hourly["series"]]
    assert (
        query(client, ws, start="2026-03-09", end="2026-03-09", granularity="hour")["series"] == []
    )


def test_half_hour_zone_buckets_start_at_half_past_utc(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db, timezone="Asia/Kolkata")
    (ad,) = tree(db, ws, ads_per_set=1)
    day_start = datetime(2026, 6, 9, 18, 30, tzinfo=UTC)  # 2026-06-10 00:00 IST
    ingest(client, ws, [fact(ad, day_start + timedelta(hours=h)) for h in range(-1, 25)])
    out = query(client, ws, start="2026-06-10", end="2026-06-10", granularity="hour")
    assert len(out["series"]) == 24
    assert out["series"][0]["bucket"] == "2026-06-10T00:00:00+05:30"
    assert out["series"][0]["bucket_utc"] == "2026-06-09T18:30:00+00:00"
    day = query(client, ws, start="2026-06-10", end="2026-06-10")
    assert day["totals"][0]["spend"] == "24.00"
    # Seen from UTC, the range is still the account's day (18:30Z to 18:30Z), and each +05:30
    # hour falls in the UTC hour it starts in: none merged, none outside the day.
    utc = query(
        client, ws, start="2026-06-10", end="2026-06-10", granularity="hour", timezone="UTC"
    )
    assert len(utc["series"]) == 24
    assert utc["series"][0]["bucket"] == "2026-06-09T18:00:00+00:00"
    assert utc["series"][-1]["bucket"] == "2026-06-10T17:00:00+00:00"
    assert all(p["bucket"].endswith(":00:00+00:00") for p in utc["series"])
    assert utc["totals"][0]["spend"] == "24.00"


def test_currencies_are_never_added(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    usd, eur = tree(db, ws, ads_per_set=2)
    at = datetime(2026, 5, 1, 10, tzinfo=UTC)
    ingest(client, ws, [fact(usd, at, spend="10.00"), fact(eur, at, currency="EUR", spend="7.50")])
    out = query(client, ws, start="2026-05-01", end="2026-05-01")
    totals = {t["currency"]: t["spend"] for t in out["totals"]}
    assert totals == {"USD": "10.00", "EUR": "7.50"}
    assert any("currencies" in n for n in out["notes"])


def test_ratios_from_summed_bases_and_null_on_zero(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    a, b = tree(db, ws, ads_per_set=2)
    at = datetime(2026, 5, 1, 10, tzinfo=UTC)
    ingest(
        client,
        ws,
        [
            fact(a, at, spend="9.00", impressions=1000, clicks=1),
            fact(b, at, spend="1.00", impressions=9000, clicks=0),
        ],
    )
    (t,) = query(client, ws, start="2026-05-01", end="2026-05-01")["totals"]
    assert t["cpc"] == "10.00"  # 10 spend / 1 click, not the mean of 9 and undefined
    assert Decimal(str(t["ctr"])) == Decimal("0.0001")
    assert t["cpm"] == "1.00"
    assert t["cpa"] is None and t["roas"] is None  # no conversions, no purchase value
    zero = query(
        client, ws, start="2026-05-01", end="2026-05-01", level="ad", group_by="entity", sort="cpc"
    )
    by_ad = {g["group"]: g for g in zero["groups"]}
    assert by_ad[str(b.id)]["cpc"] is None
    assert zero["groups"][-1]["group"] == str(b.id)  # nulls sort last


def test_campaigns_roll_up_from_ads_with_top_n(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    ads = tree(db, ws, ads_per_set=2, campaigns=3)
    at = datetime(2026, 5, 1, 10, tzinfo=UTC)
    ingest(client, ws, [fact(ad, at, spend=f"{i + 1}.00") for i, ad in enumerate(ads)])
    out = query(
        client,
        ws,
        start="2026-05-01",
        end="2026-05-01",
        level="campaign",
        group_by="entity",
        limit=2,
    )
    assert [(g["name"], g["spend"]) for g in out["groups"]] == [
        ("Campaign 2", "11.00"),
        ("Campaign 1", "7.00"),
    ]
    assert {p["group"] for p in out["series"]} == {g["group"] for g in out["groups"]}
    assert out["totals"][0]["spend"] == "21.00"  # totals cover every campaign, not the top 2
    assert out["source"]["fact_level"] == {"meta": "ad:hour"}


def test_series_total_is_one_line_over_every_group(client: TestClient, db: Session) -> None:
    """series=total: the groups' answer with one line over all of them (whatever the limit),
    equal to the sum of the per-group series; series=none: no series at all."""
    ws = make_keyed_workspace(db)
    ads = tree(db, ws, ads_per_set=1, campaigns=3)
    records = [
        fact(ad, datetime(2026, 5, d, tzinfo=UTC), "day", spend=f"{i + d}.25")
        for i, ad in enumerate(ads)
        for d in (1, 2)
    ]
    orphan = entity(db, ws, Level.AD)  # pushed with no campaign above it: in no campaign row
    records.append(fact(orphan, datetime(2026, 5, 1, tzinfo=UTC), "day", spend="100.00"))
    ingest(client, ws, records)
    ask = {"start": "2026-05-01", "end": "2026-05-02", "level": "campaign", "group_by": "entity"}
    per_group = query(client, ws, **ask)
    total = query(client, ws, **ask, series="total", limit=1)
    none = query(client, ws, **ask, series="none")
    assert none["series"] == [] and none["groups"] == per_group["groups"]
    assert none["totals"] == per_group["totals"]
    assert len(total["groups"]) == 1 and total["totals"] == per_group["totals"]
    # Ungrouped too: the totals alone (the series was read and sent all the same).
    ungrouped = {**ask, "group_by": "none"}
    bare, lined = query(client, ws, **ungrouped, series="none"), query(client, ws, **ungrouped)
    assert bare["series"] == [] and lined["series"] != []
    assert bare["totals"] == lined["totals"] and bare["groups"] == lined["groups"]
    summed: dict[str, Decimal] = {}
    for p in per_group["series"]:
        summed[p["bucket"]] = summed.get(p["bucket"], Decimal(0)) + Decimal(p["spend"])
    assert {p["bucket"]: Decimal(p["spend"]) for p in total["series"]} == summed
    assert {p["group"] for p in total["series"]} == {None}
    assert summed == {"2026-05-01": Decimal("6.75"), "2026-05-02": Decimal("9.75")}
    bad = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/query",
        params={**ask, "series": "some"},
        headers=ws.headers,
    )
    assert bad.status_code == 422 and "series" in bad.text


def test_an_ad_level_line_leaves_out_the_sources_with_no_ads(
    client: TestClient, db: Session
) -> None:
    """At ad level, the line over the rows covers the facts under an ad: a source that
    reports campaigns only (no ad rows) is in the ungrouped answer, never in that line."""
    ws = make_keyed_workspace(db)
    ads = tree(db, ws, ads_per_set=2, campaigns=2)
    campaign_only = Entity(
        workspace_id=ws.workspace.id,
        provider=Provider.GOOGLE,
        level=Level.CAMPAIGN,
        external_id="g-campaign",
        name="google campaign",
    )
    db.add(campaign_only)
    db.flush()
    days = (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 2, tzinfo=UTC))
    records = [
        fact(ad, day + timedelta(hours=h), spend=f"{i + 1}.{h:02d}")
        for i, ad in enumerate(ads)
        for day in days
        for h in (3, 17)
    ]
    records += [fact(campaign_only, day, "day", spend="500.00") for day in days]
    ingest(client, ws, records)
    ask = {"start": "2026-05-01", "end": "2026-05-02", "level": "ad"}
    for granularity in ("day", "hour"):
        per_ad = query(client, ws, **ask, granularity=granularity, group_by="entity")
        line = query(client, ws, **ask, granularity=granularity, group_by="entity", series="total")
        ungrouped = query(client, ws, **ask, granularity=granularity)
        summed: dict[str, Decimal] = {}
        for p in per_ad["series"]:
            summed[p["bucket"]] = summed.get(p["bucket"], Decimal(0)) + Decimal(p["spend"])
        assert {p["bucket"]: Decimal(p["spend"]) for p in line["series"]} == summed
        assert sum(summed.values()) == Decimal("41.60")
        assert line["totals"] == per_ad["totals"]
        everything = sum(Decimal(p["spend"]) for p in ungrouped["series"])
        # The campaign-only source is in the ungrouped answer (it reports days, not hours).
        assert everything == Decimal("1041.60" if granularity == "day" else "41.60")


def test_daily_buckets_prefer_daily_facts(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    (meta_ad,) = tree(db, ws, ads_per_set=1)
    other_ad = Entity(
        workspace_id=ws.workspace.id,
        provider=Provider.GOOGLE,
        level=Level.AD,
        external_id="g-1",
        name="google ad",
    )
    db.add(other_ad)
    db.flush()
    day = datetime(2026, 5, 1, tzinfo=UTC)
    ingest(
        client,
        ws,
        [
            fact(meta_ad, day + timedelta(hours=3), spend="2.00"),
            fact(meta_ad, day, gran="day", spend="2.00", conversions="3"),
            fact(other_ad, day + timedelta(hours=5), spend="4.00"),  # this source has hours only
        ],
    )
    out = query(client, ws, start="2026-05-01", end="2026-05-01")
    (t,) = out["totals"]
    assert t["spend"] == "6.00"  # 2 from Meta's daily row + 4 from the hours; no double count
    assert t["conversions"] == "3.00"
    assert out["source"]["fact_level"] == {"meta": "ad:day", "google": "ad:hour"}
    hourly = query(client, ws, start="2026-05-01", end="2026-05-01", granularity="hour")
    assert all(p["conversions"] is None for p in hourly["series"])
    assert any("per day only" in n for n in hourly["notes"])


def test_csv_export(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    (ad,) = tree(db, ws, ads_per_set=1)
    ingest(client, ws, [fact(ad, datetime(2026, 5, 1, 10, tzinfo=UTC))])
    r = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/query",
        headers=ws.headers,
        params={"start": "2026-05-01", "end": "2026-05-01", "format": "csv"},
    )
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("bucket,group,name,currency,spend")
    assert lines[1].startswith("2026-05-01,,,USD,1.00,100,2")


def test_bad_questions_get_clear_errors(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    path = f"/api/v1/workspaces/{ws.workspace.id}/metrics/query"
    bad = [
        ({"start": "2026-05-02", "end": "2026-05-01"}, "end"),
        ({"start": "2026-05-01", "end": "2026-05-01", "timezone": "Nowhere/City"}, "timezone"),
        ({"start": "2026-01-01", "end": "2026-12-31", "granularity": "hour"}, "granularity"),
        ({"start": "2026-05-01", "end": "2026-05-01", "sort": "drop table"}, "sort"),
    ]
    for params, field in bad:
        r = client.get(path, params=params, headers=ws.headers)
        assert r.status_code == 422, params
        assert r.json()["error"]["details"]["field"] == field
    other = make_keyed_workspace(db)
    r = client.get(
        f"/api/v1/workspaces/{other.workspace.id}/metrics/query",
        params={"start": "2026-05-01", "end": "2026-05-01"},
        headers=ws.headers,
    )
    assert r.status_code == 404


def test_reach_is_given_per_entity_and_day_never_summed(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    ads = tree(db, ws)
    adset = db.get(Entity, ads[0].parent_id)
    assert adset is not None
    camp = db.get(Entity, adset.parent_id)
    assert camp is not None
    day1, day2 = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 2, tzinfo=UTC)
    reach_only = {"spend": "0.00", "impressions": 0, "clicks": 0}
    ingest(
        client,
        ws,
        [fact(ad, d, "day", reach=80) for ad in ads for d in (day1, day2)]
        + [fact(camp, day1, "day", reach=150, **reach_only)]
        + [fact(camp, day2, "day", reach=120, **reach_only)],
    )
    out = query(
        client, ws, start="2026-05-01", end="2026-05-02", level="campaign", group_by="entity"
    )
    points = {p["bucket"]: p for p in out["series"]}
    assert points["2026-05-01"]["impressions"] == 200  # summed from the ads, reach not summed
    assert points["2026-05-01"]["reach"] == 150 and points["2026-05-02"]["reach"] == 120
    assert points["2026-05-01"]["frequency"] == 200 / 150
    assert out["groups"][0]["reach"] is None  # two days: reach does not add up
    one = query(
        client, ws, start="2026-05-02", end="2026-05-02", level="campaign", group_by="entity"
    )
    assert one["groups"][0]["reach"] == 120 and one["groups"][0]["frequency"] == 200 / 120
    weekly = query(
        client,
        ws,
        start="2026-05-01",
        end="2026-05-02",
        level="campaign",
        group_by="entity",
        granularity="week",
    )
    assert all(p["reach"] is None for p in weekly["series"])
    by_ad = query(client, ws, start="2026-05-01", end="2026-05-01", level="ad", group_by="entity")
    assert {g["reach"] for g in by_ad["groups"]} == {80}
    assert {p["reach"] for p in by_ad["series"]} == {80}
    totals = query(client, ws, start="2026-05-01", end="2026-05-01", level="workspace")
    assert totals["totals"][0]["reach"] is None  # across ads and campaigns: never a sum


def test_daily_rows_of_two_providers_in_one_day_bucket_are_summed(
    client: TestClient, db: Session
) -> None:
    # Meta's ad days and another provider's campaign days are two workspace rollup rows of
    # one bucket: added up, and apart when grouped by provider.
    ws = make_keyed_workspace(db)
    ad = tree(db, ws)[0]
    day = datetime(2026, 6, 10, tzinfo=UTC)
    other = {"external_entity_id": "g-1", "provider": "google", "level": "campaign"}
    ingest(
        client,
        ws,
        [
            fact(ad, day, "day", spend="2.50"),
            {**{k: v for k, v in fact(ad, day, "day").items() if k != "entity_id"}, **other,
             "spend": "4.00"},
        ],
    )  # fmt: skip
    out = query(client, ws, start="2026-06-10", end="2026-06-10", level="workspace")
    assert [(p["bucket"], p["spend"]) for p in out["series"]] == [("2026-06-10", "6.50")]
    by_provider = query(
        client, ws, start="2026-06-10", end="2026-06-10", level="workspace", group_by="provider"
    )
    assert {p["group"]: p["spend"] for p in by_provider["series"]} == {
        "google": "4.00",
        "meta": "2.50",
    }
