"""Planner statistics: the worker analyzes a fact partition its writes left unanalyzed, so
questions over a new month are planned from its real size (autovacuum may be off or late)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from metricx.db import make_sessionmaker, unit_of_work
from metricx.facts.partitions import ensure_partitions
from metricx.facts.statistics import MIN_CHANGES, analyze_stale_tables, stale_tables
from metricx.ingest.service import upsert_facts
from metricx.jobs.context import set_runtime
from metricx.migrate import upgrade
from metricx.runtime import build_runtime
from metricx.worker.queue import build_queue
from metricx.worker.tasks import refresh_planner_statistics
from tests.conftest import make_settings
from tests.factories import make_workspace
from tests.retention.test_retention import facts

PARTITION = "metric_facts_p2024_01"
HOUR = timedelta(hours=1)


@pytest.fixture
def own_db(fresh_database) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """Its own database: another test's writes must not make tables stale here."""
    engine = create_engine(fresh_database("statistics"))
    upgrade(engine)
    with engine.begin() as conn:  # as on a server with autovacuum off: only metricx analyzes
        ensure_partitions(conn, [date(2024, 1, 1)])
        conn.execute(text(f"ALTER TABLE {PARTITION} SET (autovacuum_enabled = false)"))
    yield engine
    engine.dispose()


def changes_seen(engine: Engine, table: str, at_least: int) -> None:
    """Wait until the statistics system counts ``at_least`` changes to ``table`` (a backend
    reports its counts shortly after its transaction ends, not at once)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            seen = conn.execute(
                text("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = :t"),
                {"t": table},
            ).scalar_one()
        if seen >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError(f"{table}: {seen} changes counted, {at_least} expected")


def planner_rows(engine: Engine) -> float:
    with engine.connect() as conn:
        return float(
            conn.execute(
                text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": PARTITION}
            ).scalar_one()
        )


def test_the_worker_analyzes_a_partition_its_writes_left_unanalyzed(
    own_db: Engine, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, own_db.url.render_as_string(hide_password=False))
    n = 3 * MIN_CHANGES
    with unit_of_work(make_sessionmaker(own_db)) as s:
        ws = make_workspace(s)
        rows = [  # three ads' hours of January
            fact
            for ad in ("ad-1", "ad-2", "ad-3")
            for fact in facts("hour", datetime(2024, 1, 1, tzinfo=UTC), n // 3, HOUR, ad)
        ]
        upsert_facts(s, settings=settings, workspace_id=ws.id, records=rows)
    changes_seen(own_db, PARTITION, n)
    assert planner_rows(own_db) == -1  # never analyzed: the planner guesses

    runtime = build_runtime(settings)
    set_runtime(runtime)
    try:
        analyzed = refresh_planner_statistics(timestamp=0)
    finally:
        runtime.dispose()

    assert f"public.{PARTITION}" in analyzed
    assert planner_rows(own_db) == n
    with own_db.connect() as conn:
        columns = conn.execute(
            text("SELECT count(*) FROM pg_stats WHERE tablename = :t"), {"t": PARTITION}
        ).scalar_one()
    assert columns > 0


def test_small_changes_are_not_stale_and_a_zero_share_analyzes_nothing(
    own_db: Engine, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, own_db.url.render_as_string(hide_password=False))
    with unit_of_work(make_sessionmaker(own_db)) as s:
        ws = make_workspace(s)
        rows = [
            fact
            for ad in ("ad-1", "ad-2")
            for fact in facts("hour", datetime(2024, 1, 1, tzinfo=UTC), MIN_CHANGES, HOUR, ad)
        ]
        upsert_facts(s, settings=settings, workspace_id=ws.id, records=rows)
    changes_seen(own_db, PARTITION, 2 * MIN_CHANGES)
    with unit_of_work(make_sessionmaker(own_db)) as s:
        assert analyze_stale_tables(s, share=0) == []
        # 2 x MIN_CHANGES rows changed: stale at a share of 1 (all of it), not at 3 (too few)
        assert f"public.{PARTITION}" not in stale_tables(s, share=3)
        assert f"public.{PARTITION}" in stale_tables(s, share=1)
    assert planner_rows(own_db) == -1


def test_statistics_are_refreshed_every_minute() -> None:
    queue = build_queue("postgresql://unused@localhost/unused")
    periodic = {t.task.name: t.cron for t in queue.periodic_registry.periodic_tasks.values()}
    assert periodic["refresh_planner_statistics"] == "* * * * *"
