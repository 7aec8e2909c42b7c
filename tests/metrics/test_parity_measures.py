"""Link clicks, video and results in the query layer: "not reported" survives rollups per
reporting group, ratios are computed from sums (average play time is weighted), and a row
summing ad sets of different result types shows no result."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.ingest.records import FactInput
from metricx.ingest.service import upsert_facts
from metricx.metrics.schemas import Bucket, GroupBy, GroupLevel, MetricQuery
from metricx.metrics.service import UnifiedMetricService
from metricx.models import Entity, Level, Provider, Workspace
from tests.factories import make_workspace

DAY = date(2026, 11, 2)
PURCHASE = "actions:offsite_conversion.fb_pixel_purchase"
CLICKS = "actions:link_click"


def add(db: Session, ws: Workspace, level: Level, parent: Entity | None, **extra: Any) -> Entity:
    e = Entity(
        workspace_id=ws.id,
        provider=Provider.META,
        level=level,
        external_id=uuid.uuid4().hex[:10],
        parent_id=parent.id if parent else None,
        name=f"{level.value} {uuid.uuid4().hex[:4]}",
        effective_status="ACTIVE",
        **extra,
    )
    db.add(e)
    db.flush()
    return e


def day_fact(ad: Entity, day: date, **measures: Any) -> FactInput:
    return FactInput(
        granularity="day",
        entity_id=ad.id,
        event_at=datetime(day.year, day.month, day.day, tzinfo=UTC),
        currency="USD",
        **{"spend": Decimal("10"), "impressions": 1000, "clicks": 20, **measures},
    )


def write(db: Session, ws: Workspace, facts: list[FactInput]) -> None:
    result = upsert_facts(db, settings=Settings(), workspace_id=ws.id, records=facts, source="t")
    assert result.failed == 0, result.errors


def ask(db: Session, ws: Workspace, *, use_rollups: bool = True, **q: Any) -> dict[str, Any]:
    query = MetricQuery(**{"start": DAY, "end": DAY, **q})
    return (
        UnifiedMetricService(db, use_rollups=use_rollups, use_cache=False)
        .query(ws, query)
        .model_dump()
    )


@pytest.mark.parametrize("use_rollups", [True, False])
def test_hourly_facts_leave_video_unreported_while_days_sum_it(
    db: Session, use_rollups: bool
) -> None:
    ws = make_workspace(db)
    camp = add(db, ws, Level.CAMPAIGN, add(db, ws, Level.ACCOUNT, None))
    ad = add(db, ws, Level.AD, add(db, ws, Level.ADSET, camp))
    hour = FactInput(
        granularity="hour",
        entity_id=ad.id,
        event_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        currency="USD",
        spend=Decimal("1"),
        impressions=50,
        clicks=1,
    )
    write(db, ws, [hour, day_fact(ad, DAY, video_plays=40, video_watch_seconds=200, link_clicks=7)])
    hourly = ask(
        db, ws, granularity=Bucket.HOUR, level=GroupLevel.CAMPAIGN, use_rollups=use_rollups
    )
    assert [(p["video_plays"], p["link_clicks"], p["results"]) for p in hourly["series"]] == [
        (None, None, None)
    ]
    assert any("video" in n for n in hourly["notes"])
    daily = ask(db, ws, level=GroupLevel.CAMPAIGN, group_by=GroupBy.ENTITY, use_rollups=use_rollups)
    (row,) = daily["groups"]
    assert (row["video_plays"], row["video_watch_seconds"], row["link_clicks"]) == (
        "40.00",
        "200.00",
        7,
    )
    assert row["avg_play_time"] == 5.0
    # Results were not reported by any fact: null, not 0.
    assert row["results"] is None and row["cost_per_result"] is None


def test_a_group_reported_alone_keeps_the_others_unreported(db: Session) -> None:
    """Facts written before the new measures existed (or pushed without them) report
    conversions only: link clicks and video stay null, not 0, at every level."""
    ws = make_workspace(db)
    camp = add(db, ws, Level.CAMPAIGN, add(db, ws, Level.ACCOUNT, None))
    ad = add(db, ws, Level.AD, add(db, ws, Level.ADSET, camp))
    write(db, ws, [day_fact(ad, DAY, conversions=Decimal("3"))])
    for level in (
        GroupLevel.WORKSPACE,
        GroupLevel.ACCOUNT,
        GroupLevel.CAMPAIGN,
        GroupLevel.ADSET,
        GroupLevel.AD,
    ):
        out = ask(db, ws, level=level)
        (total,) = out["totals"]
        assert total["conversions"] == "3.00", level
        assert (total["link_clicks"], total["video_plays"], total["ctr_link"]) == (
            None,
            None,
            None,
        ), level


def test_ratios_come_from_sums_and_play_time_is_weighted(db: Session) -> None:
    ws = make_workspace(db)
    camp = add(db, ws, Level.CAMPAIGN, add(db, ws, Level.ACCOUNT, None))
    adset = add(db, ws, Level.ADSET, camp, result_type="video_thruplay_watched_actions")
    a, b = add(db, ws, Level.AD, adset), add(db, ws, Level.AD, adset)
    write(
        db,
        ws,
        [
            # 10 plays averaging 2 s and 30 plays averaging 6 s: 5 s, not (2 + 6) / 2
            day_fact(
                a,
                DAY,
                link_clicks=30,
                thruplays=4,
                video_plays=10,
                video_watch_seconds=20,
                results=4,
            ),
            day_fact(
                b,
                DAY,
                link_clicks=10,
                thruplays=16,
                video_plays=30,
                video_watch_seconds=180,
                results=16,
            ),
        ],
    )
    for level in (GroupLevel.CAMPAIGN, GroupLevel.ADSET):
        out = ask(db, ws, level=level, group_by=GroupBy.ENTITY)
        (row,) = out["groups"]
        assert row["avg_play_time"] == 5.0
        assert row["ctr_link"] == 40 / 2000  # a share, as ctr is
        assert row["cpc_link"] == "0.50"
        assert row["cost_per_thruplay"] == "1.00"
        assert (row["results"], row["result_type"], row["cost_per_result"]) == (
            "20.00",
            "video_thruplay_watched_actions",
            "1.00",
        )
        (point,) = out["series"]  # the series computes the same in SQL
        assert (point["avg_play_time"], point["cpc_link"], point["cost_per_thruplay"]) == (
            5.0,
            "0.50",
            "1.00",
        )
        assert (point["results"], point["result_type"]) == (
            "20.00",
            "video_thruplay_watched_actions",
        )


def mixed_campaign(db: Session, ws: Workspace) -> tuple[Entity, Entity, Entity, Entity]:
    camp = add(db, ws, Level.CAMPAIGN, add(db, ws, Level.ACCOUNT, None))
    buys = add(
        db, ws, Level.ADSET, camp, optimization_goal="OFFSITE_CONVERSIONS", result_type=PURCHASE
    )
    clicks = add(db, ws, Level.ADSET, camp, optimization_goal="LINK_CLICKS", result_type=CLICKS)
    return camp, buys, add(db, ws, Level.AD, buys), add(db, ws, Level.AD, clicks)


@pytest.mark.parametrize("use_rollups", [True, False])
def test_a_campaign_mixing_result_types_shows_no_result(db: Session, use_rollups: bool) -> None:
    ws = make_workspace(db)
    _, buys, buy_ad, click_ad = mixed_campaign(db, ws)
    write(db, ws, [day_fact(buy_ad, DAY, results=3), day_fact(click_ad, DAY, results=40)])
    out = ask(db, ws, level=GroupLevel.CAMPAIGN, group_by=GroupBy.ENTITY, use_rollups=use_rollups)
    (row,) = out["groups"]
    assert (row["result_type"], row["results"], row["cost_per_result"]) == ("mixed", None, None)
    assert out["totals"][0]["result_type"] == "mixed" and out["totals"][0]["results"] is None
    assert [p["result_type"] for p in out["series"]] == ["mixed"]
    assert any('"mixed"' in n for n in out["notes"])
    per_adset = ask(
        db, ws, level=GroupLevel.ADSET, group_by=GroupBy.ENTITY, use_rollups=use_rollups
    )
    got = {
        g["group"]: (g["result_type"], g["results"], g["cost_per_result"])
        for g in per_adset["groups"]
    }
    assert got[str(buys.id)] == (PURCHASE, "3.00", "3.3333")
    per_ad = ask(db, ws, level=GroupLevel.AD, group_by=GroupBy.ENTITY, use_rollups=use_rollups)
    got = {g["group"]: (g["result_type"], g["results"]) for g in per_ad["groups"]}
    assert got == {str(buy_ad.id): (PURCHASE, "3.00"), str(click_ad.id): (CLICKS, "40.00")}
    # Filtered: the ad sets of the filter decide (those under it, or over a filtered ad).
    camp = db.get(Entity, buys.parent_id)
    assert camp is not None
    for filtered, kind in (
        ([camp.parent_id], "mixed"),
        ([camp.id], "mixed"),
        ([buys.id], PURCHASE),
        ([click_ad.id], CLICKS),
        ([buys.id, click_ad.id], "mixed"),
    ):
        out = ask(db, ws, entity_ids=filtered, use_rollups=use_rollups)
        assert out["totals"][0]["result_type"] == kind, filtered


def test_only_ad_sets_that_delivered_decide_the_result_type(db: Session) -> None:
    ws = make_workspace(db)
    _, _, buy_ad, click_ad = mixed_campaign(db, ws)
    write(
        db,
        ws,
        [day_fact(buy_ad, DAY, results=3), day_fact(click_ad, DAY + timedelta(days=1), results=40)],
    )
    out = ask(db, ws, level=GroupLevel.CAMPAIGN, group_by=GroupBy.ENTITY)
    (row,) = out["groups"]
    assert (row["result_type"], row["results"]) == (PURCHASE, "3.00")
    both = ask(
        db, ws, level=GroupLevel.CAMPAIGN, group_by=GroupBy.ENTITY, end=DAY + timedelta(days=1)
    )
    assert both["groups"][0]["result_type"] == "mixed"


def test_results_that_are_reach_are_never_summed(db: Session) -> None:
    ws = make_workspace(db)
    camp = add(db, ws, Level.CAMPAIGN, add(db, ws, Level.ACCOUNT, None))
    adset = add(db, ws, Level.ADSET, camp, optimization_goal="REACH", result_type="reach")
    a, b = add(db, ws, Level.AD, adset), add(db, ws, Level.AD, adset)
    reach = FactInput(
        granularity="day",
        entity_id=adset.id,
        event_at=datetime(2026, 11, 2, tzinfo=UTC),
        currency="USD",
        reach=700,  # deduplicated: less than the ads' 500 + 400
    )
    write(
        db,
        ws,
        [day_fact(a, DAY, results=500, reach=500), day_fact(b, DAY, results=400, reach=400), reach],
    )
    out = ask(db, ws, level=GroupLevel.ADSET, group_by=GroupBy.ENTITY)
    (row,) = out["groups"]
    assert (row["result_type"], row["results"], row["cost_per_result"]) == (
        "reach",
        "700.00",
        "0.0286",
    )
    # No reach known for the campaign row: no result rather than the sum of the ads'.
    out = ask(db, ws, level=GroupLevel.CAMPAIGN, group_by=GroupBy.ENTITY)
    assert (out["groups"][0]["result_type"], out["groups"][0]["results"]) == ("reach", None)
