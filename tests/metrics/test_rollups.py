"""Rollups stay equal to a recomputation from the facts, whatever upserts and revisions came,
and the query layer answers the same from rollups as from facts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.facts import rollups
from metricx.ingest.records import FactInput
from metricx.ingest.service import upsert_facts
from metricx.metrics import repository
from metricx.metrics.calendar import DayWindow
from metricx.metrics.repository import FactScope
from metricx.metrics.schemas import Bucket, GroupBy, GroupLevel, MetricQuery, SeriesOf
from metricx.metrics.service import UnifiedMetricService
from metricx.models import Entity, Level, Provider, Workspace
from tests.factories import make_workspace

START = datetime(2026, 10, 31, 20, tzinfo=UTC)


def build_tree(db: Session, ws: Workspace) -> list[Entity]:
    def add(level: Level, parent: Entity | None, provider: Provider = Provider.META) -> Entity:
        e = Entity(
            workspace_id=ws.id,
            provider=provider,
            level=level,
            external_id=uuid.uuid4().hex[:10],
            parent_id=parent.id if parent else None,
            name=level.value,
            effective_status="ACTIVE",
        )
        db.add(e)
        db.flush()
        return e

    acct = add(Level.ACCOUNT, None)
    ads = []
    for _ in range(2):
        camp = add(Level.CAMPAIGN, acct)
        for _ in range(2):
            adset = add(Level.ADSET, camp)
            ads += [add(Level.AD, adset) for _ in range(2)]
    ads.append(add(Level.AD, None, Provider.GOOGLE))  # an orphan of another provider
    return ads


fact_strategy = st.fixed_dictionaries(
    {
        "ad": st.integers(0, 8),
        "hour": st.integers(0, 24 * 20),  # three weeks: totals read whole weeks from week rows
        "granularity": st.sampled_from(["hour", "day"]),
        "spend": st.decimals(0, 500, places=2),
        "impressions": st.integers(0, 10_000),
        "clicks": st.integers(0, 300),
        "conversions": st.none() | st.decimals(0, 20, places=0),
        # another reporting group (video_n): reported or not independently of conversions
        "video_plays": st.none() | st.decimals(0, 50, places=0),
        "currency": st.sampled_from(["USD", "USD", "EUR"]),
    }
)


def to_fact(ads: list[Entity], raw: dict[str, Any]) -> FactInput:
    at = START + timedelta(hours=raw["hour"])
    if raw["granularity"] == "day":
        at = at.replace(hour=0)
    return FactInput(
        granularity=raw["granularity"],
        entity_id=ads[raw["ad"]].id,
        event_at=at,
        currency=raw["currency"],
        spend=raw["spend"],
        impressions=raw["impressions"],
        clicks=raw["clicks"],
        conversions=raw["conversions"],
        video_plays=raw["video_plays"],
    )


def rollup_rows(db: Session, ws: Workspace) -> list[tuple[Any, ...]]:
    rows = db.execute(
        text(
            "SELECT level, entity_id, granularity, event_at, currency, fact_level, provider, facts,"
            " conversions_n, video_n, spend, impressions, clicks, conversions, video_plays"
            " FROM metric_rollups"
            " WHERE workspace_id = :ws AND facts <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7"
        ),
        {"ws": ws.id},
    )
    return [tuple(r) for r in rows]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(fact_strategy, min_size=1, max_size=25), min_size=1, max_size=4))
def test_rollups_equal_recomputation_after_random_upserts(
    db: Session, batches: list[list[dict[str, Any]]]
) -> None:
    savepoint = db.begin_nested()
    try:
        ws = make_workspace(db)
        ads = build_tree(db, ws)
        adset = db.get(Entity, ads[0].parent_id)
        campaign = db.get(Entity, adset.parent_id) if adset else None
        account = db.get(Entity, campaign.parent_id) if campaign else None
        assert adset and campaign and account
        cfg = Settings()
        for batch in batches:  # later batches revise earlier facts (same keys, new values)
            result = upsert_facts(
                db,
                settings=cfg,
                workspace_id=ws.id,
                records=[to_fact(ads, r) for r in batch],
                source="test",
            )
            assert result.failed == 0, result.errors
        incremental = rollup_rows(db, ws)
        answers: dict[Any, Any] = {}
        sources: dict[Any, Any] = {}
        questions = [
            (Bucket.HOUR, GroupLevel.WORKSPACE, GroupBy.NONE, None),
            (Bucket.DAY, GroupLevel.CAMPAIGN, GroupBy.ENTITY, "America/Los_Angeles"),
            (Bucket.WEEK, GroupLevel.ADSET, GroupBy.ENTITY, "Asia/Kolkata"),
            # Daily facts start UTC days: rollup rows are the points (no sums) here.
            (Bucket.DAY, GroupLevel.CAMPAIGN, GroupBy.ENTITY, "UTC"),
            (Bucket.DAY, GroupLevel.WORKSPACE, GroupBy.PROVIDER, "UTC"),
            # Ads: their own day rows (daily facts, hours per day) and weeks.
            (Bucket.DAY, GroupLevel.AD, GroupBy.ENTITY, "Asia/Kolkata"),
            (Bucket.WEEK, GroupLevel.AD, GroupBy.ENTITY, "UTC"),
            (Bucket.MONTH, GroupLevel.AD, GroupBy.NONE, "America/Los_Angeles"),
            # Ads by the hour: their rows' totals from their days, the line over them from
            # the workspace's hours (ads have no hour rows).
            (Bucket.HOUR, GroupLevel.AD, GroupBy.ENTITY, "Asia/Kolkata", SeriesOf.TOTAL),
            (Bucket.HOUR, GroupLevel.AD, GroupBy.NONE, "America/Los_Angeles"),
            (Bucket.HOUR, GroupLevel.CAMPAIGN, GroupBy.ENTITY, "UTC", SeriesOf.NONE),
            # Filtered to entities of one level, ungrouped: their own rollup rows answer.
            (Bucket.HOUR, GroupLevel.WORKSPACE, GroupBy.NONE, "Asia/Kolkata", None, [campaign]),
            (Bucket.DAY, GroupLevel.AD, GroupBy.NONE, "UTC", SeriesOf.NONE, [adset]),
            (Bucket.WEEK, GroupLevel.WORKSPACE, GroupBy.NONE, "UTC", None, ads[2:4]),
            (Bucket.DAY, GroupLevel.WORKSPACE, GroupBy.NONE, "UTC", None, [account]),
            # Of two levels (a campaign and an ad set under it): the facts under either.
            (Bucket.DAY, GroupLevel.WORKSPACE, GroupBy.NONE, "UTC", None, [campaign, adset]),
        ]
        filtered = range(len(questions) - 5, len(questions) - 1)
        for use in (True, False):
            service = UnifiedMetricService(db, use_rollups=use)
            for n, (granularity, level, group, tz, *rest) in enumerate(questions):
                series = rest[0] if rest else None
                under = rest[1] if len(rest) > 1 else []
                q = MetricQuery(
                    series=series or SeriesOf.GROUP,
                    entity_ids=[e.id for e in under],
                    start=START.date() + timedelta(days=1),  # edges cut into weeks and days
                    end=(START + timedelta(days=19)).date(),
                    granularity=granularity,
                    level=level,
                    group_by=group,
                    timezone=tz,
                )
                out = service.query(ws, q).model_dump()
                answers[(use, n)] = (out["totals"], out["groups"], out["series"])
                sources[(use, n)] = out["source"]
        # The ads' hour questions, and those filtered to one level's entities, were answered
        # by rollups all the same; a filter over two levels by the facts.
        assert all(sources[(True, n)]["rollups"] for n in (8, 9, 10, *filtered))
        assert not sources[(True, len(questions) - 1)]["rollups"]
        for n in range(len(questions)):
            rolled, raw = answers[(True, n)], answers[(False, n)]
            if rolled != raw:
                print("SOURCES", sources[(True, n)], sources[(False, n)])
                for part in (2,):
                    print("ROLLED", [(p["bucket"], p["group"], p["spend"]) for p in rolled[part]])
                    print("RAW   ", [(p["bucket"], p["group"], p["spend"]) for p in raw[part]])
            assert rolled == raw, (
                questions[n],
                [
                    (k, a.get(k), b.get(k))
                    for part_a, part_b in zip(rolled, raw, strict=True)
                    for a, b in zip(part_a, part_b, strict=False)
                    for k in a
                    if a.get(k) != b.get(k)
                ],
            )

        rollups.rebuild(db, ws.id)
        rebuilt = rollup_rows(db, ws)
        assert rebuilt == incremental, (
            set(rebuilt) - set(incremental),
            set(incremental) - set(rebuilt),
        )
    finally:
        savepoint.rollback()


def test_revision_changes_rollup_by_its_delta(db: Session) -> None:
    ws = make_workspace(db)
    ads = build_tree(db, ws)
    cfg = Settings()
    at = START + timedelta(hours=2)
    first = FactInput(
        granularity="hour",
        entity_id=ads[0].id,
        event_at=at,
        currency="USD",
        spend=Decimal("10.00"),
        impressions=100,
        clicks=5,
    )
    upsert_facts(db, settings=cfg, workspace_id=ws.id, records=[first], source="test")
    revised = FactInput(
        granularity="hour",
        entity_id=ads[0].id,
        event_at=at,
        currency="USD",
        spend=Decimal("12.50"),
        impressions=120,
        clicks=5,
    )
    other = FactInput(
        granularity="hour",
        entity_id=ads[1].id,
        event_at=at,
        currency="USD",
        spend=Decimal("1.00"),
        impressions=10,
        clicks=1,
    )
    upsert_facts(db, settings=cfg, workspace_id=ws.id, records=[revised, other], source="test")
    row = db.execute(
        text(
            "SELECT facts, spend, impressions FROM metric_rollups WHERE workspace_id = :ws"
            " AND level = 'workspace' AND event_at = :at"
        ),
        {"ws": ws.id, "at": at},
    ).one()
    assert (row.facts, row.spend, row.impressions) == (2, Decimal("13.50"), 130)


def test_one_zones_daily_rows_are_the_points_of_a_day_series(db: Session) -> None:
    ws = make_workspace(db)
    ads = build_tree(db, ws)
    facts = [
        FactInput(
            granularity="day",
            entity_id=ad.id,
            event_at=START.replace(hour=0) + timedelta(days=day),
            currency=("EUR" if i == 3 and day == 1 else "USD"),
            spend=Decimal(f"{i + day}.125"),
            impressions=100 * i + day,
            clicks=i,
            conversions=Decimal(day) if i % 2 else None,
        )
        for i, ad in enumerate(ads)
        for day in range(4)
    ]
    assert upsert_facts(db, settings=Settings(), workspace_id=ws.id, records=facts).failed == 0
    lo = START.replace(hour=0)
    days = [DayWindow(lo.date(), lo.date() + timedelta(days=3))]
    utc = FactScope(ws.id, lo, lo + timedelta(days=4), "UTC", windows=days)
    source, zones = repository.rollup_fact_levels(db, utc, ["day", "hour"])
    assert source == {"meta": "ad:day", "google": "ad:day"} and zones == {"UTC"}
    for level, group_by in (
        (GroupLevel.CAMPAIGN, GroupBy.ENTITY),
        (GroupLevel.WORKSPACE, GroupBy.PROVIDER),
    ):
        answers = [
            repository.rollup_series(
                db,
                utc,
                bucket=Bucket.DAY,
                level=level,
                group_by=group_by,
                source=source,
                grain="day",
                exact=exact,
            )
            for exact in (True, False)
        ]
        assert answers[0] == answers[1] and len(answers[0]) >= 8
