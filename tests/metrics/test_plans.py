"""The plans behind dashboard questions use the indexes and prune partitions (EXPLAIN), and
identical questions are answered from the cache until a write."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.ingest.records import FactInput
from metricx.ingest.service import upsert_facts
from metricx.metrics import cache
from metricx.metrics.schemas import Bucket, GroupBy, GroupLevel, MetricQuery, SeriesOf
from metricx.metrics.service import UnifiedMetricService
from metricx.models import Entity, Level, Provider, Workspace
from tests.factories import make_workspace
from tests.ingest.helpers import make_connection

DAY0 = datetime(2026, 9, 10, tzinfo=UTC)


def load(db: Session, days: int = 20, ads_per_set: int = 5) -> Workspace:
    ws = make_workspace(db)

    def add(level: Level, parent: Entity | None) -> Entity:
        e = Entity(
            workspace_id=ws.id,
            provider=Provider.META,
            level=level,
            external_id=uuid.uuid4().hex[:12],
            parent_id=parent.id if parent else None,
        )
        db.add(e)
        db.flush()
        return e

    acct = add(Level.ACCOUNT, None)
    ads = []
    for _ in range(4):
        camp = add(Level.CAMPAIGN, acct)
        for _ in range(3):
            adset = add(Level.ADSET, camp)
            ads += [add(Level.AD, adset) for _ in range(ads_per_set)]

    def facts() -> Iterator[FactInput]:
        for h in range(days * 24):
            for i, ad in enumerate(ads):
                yield FactInput(
                    granularity="hour",
                    entity_id=ad.id,
                    event_at=DAY0 + timedelta(hours=h),
                    currency="USD",
                    spend=Decimal(i % 7),
                    impressions=100 + i,
                    clicks=i % 5,
                )

    upsert_facts(db, settings=Settings(), workspace_id=ws.id, records=facts(), source="test")
    db.execute(text("ANALYZE metric_rollups"))
    db.execute(text("ANALYZE metric_facts"))
    return ws


@contextmanager
def captured(db: Session) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        reads = statement.lstrip().upper().startswith(("SELECT", "WITH"))
        read = reads and any(t in statement for t in ("metric_", "action_facts", "result_type"))
        if read or "max_parallel_workers" in statement:
            seen.append((statement, params))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plans(db: Session, statements: list[tuple[str, Any]]) -> list[str]:
    out = []
    for statement, params in statements:
        raw = db.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params)
        out.append(json.dumps(raw.scalar()))
    return out


def plan_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from plan_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from plan_nodes(value)


def scans_of(plan: str, prefix: str) -> list[tuple[str, str]]:
    """(node type, relation) of every scan of a relation whose name starts with prefix."""
    return [
        (n["Node Type"], n["Relation Name"])
        for n in plan_nodes(json.loads(plan))
        if str(n.get("Relation Name", "")).startswith(prefix)
    ]


def test_rollup_questions_use_the_rollup_key(db: Session) -> None:
    ws = load(db)
    q = MetricQuery(
        start=date(2026, 9, 12),
        end=date(2026, 9, 18),
        granularity=Bucket.DAY,
        level=GroupLevel.CAMPAIGN,
        group_by=GroupBy.ENTITY,
    )
    with captured(db) as statements:
        out = UnifiedMetricService(db, use_cache=False).query(ws, q)
    assert out.source["rollups"] is True
    explained = plans(db, [s for s in statements if "metric_rollups" in s[0]])
    assert explained
    for plan in explained:
        # One of the rollups' own indexes (which one depends on the table's statistics).
        names = {n["Index Name"] for n in plan_nodes(json.loads(plan)) if "Index Name" in n}
        used = {name for name in names if "metric_rollups" in name}  # not the entity names'
        assert used and used <= {"pk_metric_rollups", "ix_metric_rollups_entity"}, names
        assert scans_of(plan, "metric_facts") == []  # the facts are not read at all
        rollup_scans = scans_of(plan, "metric_rollups")
        assert all("Index" in n or "Bitmap" in n for n, _ in rollup_scans), rollup_scans


def test_a_top_n_series_reads_only_the_chosen_entities_rows(db: Session) -> None:
    ws = load(db)
    q = MetricQuery(
        start=date(2026, 9, 10),
        end=date(2026, 9, 29),
        granularity=Bucket.WEEK,
        level=GroupLevel.ADSET,
        group_by=GroupBy.ENTITY,
        limit=2,
    )
    with captured(db) as statements:
        out = UnifiedMetricService(db, use_cache=False).query(ws, q)
    assert len(out.groups) == 2 and {p.group for p in out.series} == {g.group for g in out.groups}
    [series] = [s for s in statements if "metric_rollups" in s[0] and "ORDER BY 1, 2, 3" in s[0]]
    [plan] = plans(db, [series])
    # The entity index, its condition on the chosen ids: not a scan of all 12 ad sets' days.
    assert "ix_metric_rollups_entity" in plan
    assert "entity_id = ANY" in json.dumps(
        [
            n
            for n in plan_nodes(json.loads(plan))
            if n.get("Index Name") == "ix_metric_rollups_entity"
        ]
    )


def test_a_day_series_over_one_zones_daily_rows_sums_nothing(db: Session) -> None:
    ws = load(db, days=2, ads_per_set=1)
    ads = db.query(Entity).filter_by(workspace_id=ws.id, level=Level.AD).all()

    def daily(ad_list: list[Entity], start: datetime) -> list[FactInput]:
        return [
            FactInput(
                granularity="day",
                entity_id=ad.id,
                event_at=start + timedelta(days=d),
                currency="USD",
                spend=Decimal(d + 1),
                impressions=1000,
                clicks=d,
            )
            for ad in ad_list
            for d in range(2)
        ]

    upsert_facts(db, settings=Settings(), workspace_id=ws.id, records=daily(ads, DAY0), source="t")

    def series_plan(timezone: str, group_by: GroupBy, level: GroupLevel) -> list[str]:
        q = MetricQuery(
            start=date(2026, 9, 10),
            end=date(2026, 9, 11),
            granularity=Bucket.DAY,
            level=level,
            group_by=group_by,
            timezone=timezone,
        )
        with captured(db) as statements:
            out = UnifiedMetricService(db, use_cache=False).query(ws, q)
        assert out.source["granularity"] == "day" and out.series
        [series] = [s for s in statements if "ORDER BY 1, 2, 3" in s[0]]
        [plan] = plans(db, [series])
        return [n["Node Type"] for n in plan_nodes(json.loads(plan)) if "Node Type" in n]

    # Each rollup row is one account day: one point in whatever zone the view shows hours.
    for tz in ("UTC", "America/Los_Angeles"):
        assert "Aggregate" not in series_plan(tz, GroupBy.ENTITY, GroupLevel.CAMPAIGN)
        assert "Aggregate" not in series_plan(tz, GroupBy.NONE, GroupLevel.WORKSPACE)
    # A second account in another zone: the workspace's days add two accounts' rows.
    berlin = make_connection(db, ws.id, timezone="Europe/Berlin")
    other = Entity(
        workspace_id=ws.id,
        connection_id=berlin.id,
        provider=Provider.META,
        level=Level.AD,
        external_id="berlin-ad",
    )
    db.add(other)
    db.flush()
    upsert_facts(
        db,
        settings=Settings(),
        workspace_id=ws.id,
        records=daily([other], DAY0 - timedelta(hours=2)),  # Berlin's midnight (CEST)
        source="t",
    )
    assert "Aggregate" in series_plan("UTC", GroupBy.NONE, GroupLevel.WORKSPACE)
    assert "Aggregate" not in series_plan("UTC", GroupBy.ENTITY, GroupLevel.CAMPAIGN)


def test_fact_questions_use_the_indexes_and_prune_partitions(db: Session) -> None:
    ws = load(db)
    q = MetricQuery(
        start=date(2026, 9, 12),
        end=date(2026, 9, 13),
        granularity=Bucket.HOUR,
        level=GroupLevel.AD,
        group_by=GroupBy.ENTITY,
    )
    with captured(db) as statements:
        out = UnifiedMetricService(db, use_cache=False).query(ws, q)
    assert out.source["rollups"] is False
    # Which levels answer is read from the rollups; the sums from the facts.
    reading_facts = [p for p in plans(db, statements) if scans_of(p, "metric_facts")]
    assert reading_facts
    for plan in reading_facts:
        scans = scans_of(plan, "metric_facts")
        # Only September's partition is read (the others are pruned), and through an index.
        assert {rel for _, rel in scans} == {"metric_facts_p2026_09"}, scans
        assert all("Index" in node or "Bitmap" in node for node, _ in scans), scans


def test_identical_questions_hit_the_cache_until_a_write(db: Session) -> None:
    ws = load(db, days=2, ads_per_set=1)
    q = MetricQuery(start=date(2026, 9, 10), end=date(2026, 9, 11), level=GroupLevel.WORKSPACE)
    service = UnifiedMetricService(db)
    first = service.query(ws, q)
    hits = cache.ANSWERS.hits
    assert service.query(ws, q) is first
    assert cache.ANSWERS.hits == hits + 1
    ad = db.scalars(
        text("SELECT id FROM entities WHERE workspace_id = :ws AND level = 'ad' LIMIT 1"),
        {"ws": ws.id},
    ).first()
    upsert_facts(
        db,
        settings=Settings(),
        workspace_id=ws.id,
        source="test",
        records=[
            FactInput(
                granularity="hour",
                entity_id=ad,
                event_at=DAY0,
                currency="USD",
                spend=Decimal("1000"),
                impressions=1,
                clicks=0,
            )
        ],
    )
    after = service.query(ws, q)
    assert after is not first
    assert Decimal(after.totals[0].spend or 0) > Decimal(first.totals[0].spend or 0)


def test_a_range_reach_fetched_makes_a_new_version(db: Session) -> None:
    """The version (read in one statement) moves with a range's reach as with an import:
    an answer that showed "reach not fetched yet" is not served once it is."""
    ws = load(db, days=1, ads_per_set=1)
    before = cache.write_version(db, ws.id)
    assert cache.write_version(db, ws.id) == before
    account = db.scalars(
        text("SELECT id FROM entities WHERE workspace_id = :ws AND level = 'account'"),
        {"ws": ws.id},
    ).one()
    db.execute(
        text(
            "INSERT INTO reach_ranges (workspace_id, entity_id, since, until, level, reach,"
            " impressions) VALUES (:ws, :id, '2026-09-01', '2026-09-07', 'account', 10, 20)"
        ),
        {"ws": ws.id, "id": account},
    )
    assert cache.write_version(db, ws.id) != before


def test_sessions_plan_every_run_with_its_own_parameters(db: Session) -> None:
    # psycopg prepares a statement after 5 runs; PostgreSQL's generic plan for a date range
    # and an id list made the top-N series 6x slower (bench/query.py). Sessions never prepare,
    # so every run is planned with its parameters...
    for day in range(8):
        db.execute(
            text("SELECT count(*) FROM metric_facts WHERE event_at >= :at"),
            {"at": DAY0 + timedelta(days=day)},
        )
    assert db.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one() == 0
    # ...while PostgreSQL keeps caching its own plans (a foreign-key check per written row).
    assert db.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"
    assert db.execute(text("SHOW jit")).scalar_one() == "off"


def test_the_line_over_a_grouped_questions_rows_reads_only_its_series(db: Session) -> None:
    """series=total (the dashboard's question): the rows' totals and one line; the line's
    second pass reads its series and nothing else, and the sources are looked up once."""
    ws = load(db, days=3, ads_per_set=2)
    db.commit()  # a new transaction, which the question's reads start afresh
    ask = {"start": date(2026, 9, 10), "end": date(2026, 9, 12), "level": GroupLevel.AD}
    grouped = MetricQuery(**ask, group_by=GroupBy.ENTITY, series=SeriesOf.TOTAL)
    with captured(db) as statements:
        out = UnifiedMetricService(db, use_cache=False).query(ws, grouped)
    totals = [s for s, _ in statements if "sum(r.spend)" in s and "bucket" not in s]
    series = [s for s, _ in statements if "bucket" in s and "metric_rollups" in s]
    sources = [s for s, _ in statements if "array_agg(DISTINCT r.zone)" in s]
    assert len(totals) == 1, totals  # the rows' (the totals are summed from them), no more
    assert len(series) == 1 and len(sources) == 1
    # The ad rows' line from the workspace's rows: all of this workspace's facts are ads'.
    assert "r.level = 'workspace'" in series[0]
    serial = [s for s, _ in statements if "max_parallel_workers_per_gather" in s]
    assert len(serial) == 1  # set once for the transaction, not once per pass
    # The rows' attribution settings and result types, read once: the line's points need
    # neither (they carry the totals' result type).
    assert len([s for s, _ in statements if "attribution_setting" in s]) == 1
    assert len([s for s, _ in statements if "result_type FROM entities" in s]) == 1
    assert {p.result_type for p in out.series} == {t.result_type for t in out.totals}
    # The same answer as before: the line is the ungrouped question's series.
    line = UnifiedMetricService(db, use_cache=False).query(
        ws, MetricQuery(**ask, group_by=GroupBy.NONE)
    )
    assert [(p.bucket, p.spend) for p in out.series] == [(p.bucket, p.spend) for p in line.series]
    assert out.totals == line.totals
    assert len(out.groups) == 24


def test_grouped_rows_and_their_totals_come_formatted_from_one_statement(db: Session) -> None:
    """The rows of a grouped question and, per currency, their totals are summed and
    formatted by the database in one statement; the answer is the facts' (formatted in
    Python), in two currencies, with a measure only some rows report."""
    ws = load(db, days=2, ads_per_set=2)
    ads = db.query(Entity).filter_by(workspace_id=ws.id, level=Level.AD).limit(3).all()
    extra = [
        FactInput(
            granularity="hour",
            entity_id=ad.id,
            event_at=DAY0 + timedelta(days=d, hours=5),
            currency="EUR",
            spend=Decimal("12.345"),  # finer than a cent: shown in full
            impressions=1000 + n,
            clicks=7,
            conversions=Decimal(3 + n) if n != 1 else None,
            purchase_value=Decimal("40.10"),
        )
        for n, ad in enumerate(ads)
        for d in range(2)
    ]
    upsert_facts(db, settings=Settings(), workspace_id=ws.id, records=extra, source="test")
    db.commit()
    for level, group in (
        (GroupLevel.AD, GroupBy.ENTITY),
        (GroupLevel.CAMPAIGN, GroupBy.ENTITY),
        (GroupLevel.WORKSPACE, GroupBy.PROVIDER),
        (GroupLevel.AD, GroupBy.NONE),
    ):
        q = MetricQuery(start=date(2026, 9, 10), end=date(2026, 9, 11), level=level, group_by=group)
        with captured(db) as statements:
            rolled = UnifiedMetricService(db, use_cache=False).query(ws, q).model_dump()
        sums = [s for s, _ in statements if "sum(r.spend)" in s and "bucket" not in s]
        assert len(sums) == 1 and "trim_scale" in sums[0], (level, group)
        if group is not GroupBy.NONE:
            assert "GROUPING SETS" in sums[0]
        raw = UnifiedMetricService(db, use_rollups=False, use_cache=False).query(ws, q)
        facts = raw.model_dump()
        assert rolled["groups"] == facts["groups"], (level, group)
        assert rolled["totals"] == facts["totals"], (level, group)
        assert [t["currency"] for t in rolled["totals"]] == ["EUR", "USD"]
        eur = rolled["totals"][0]
        assert eur["spend"] == "74.07" and eur["conversions"] == "16.00", eur
        assert rolled["totals"][1]["conversions"] is None  # no USD row reports any


def test_daily_reach_is_read_only_where_the_answer_shows_it(db: Session) -> None:
    """A day's reach shows on an entity's points (a line per entity) and on its row when the
    range is one day; the dashboard's question (rows and one line over several days) shows
    it nowhere, and reads none (a month of 1,000 ads' reach: 125 ms for nothing)."""
    ws = load(db, days=3, ads_per_set=2)
    db.commit()
    days = {"start": date(2026, 9, 10), "end": date(2026, 9, 12), "level": GroupLevel.AD}
    one_day = {**days, "end": date(2026, 9, 10)}
    asked = {
        "rows and a line, three days": (
            MetricQuery(**days, group_by=GroupBy.ENTITY, series=SeriesOf.TOTAL),
            0,
        ),
        "rows alone, three days": (
            MetricQuery(**days, group_by=GroupBy.ENTITY, series=SeriesOf.NONE),
            0,
        ),
        "a line per ad, three days": (
            MetricQuery(**days, group_by=GroupBy.ENTITY, series=SeriesOf.GROUP),
            1,
        ),
        "rows and a line, one day": (
            MetricQuery(**one_day, group_by=GroupBy.ENTITY, series=SeriesOf.TOTAL),
            1,
        ),
    }
    for name, (query, reads) in asked.items():
        with captured(db) as statements:
            UnifiedMetricService(db, use_cache=False).query(ws, query)
        assert len([s for s, _ in statements if "min(f.reach)" in s]) == reads, name
