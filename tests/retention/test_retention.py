"""Retention: old facts go to Parquet, are read back and checked, then leave PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.db import make_sessionmaker, unit_of_work
from metricx.facts.partitions import existing_partitions
from metricx.ingest.records import FactInput
from metricx.ingest.service import upsert_facts
from metricx.migrate import upgrade
from metricx.models import FactArchive
from metricx.retention import service
from metricx.retention.archive import ArchiveMismatch, read_rows
from metricx.retention.tasks import run_retention
from metricx.runtime import build_runtime
from tests.conftest import make_settings
from tests.factories import make_workspace
from tests.facts.test_breakdowns import Account, D, assert_rollups_match_facts
from tests.facts.test_breakdowns import row as bd_row

NOW = datetime(2024, 3, 20, 12, tzinfo=UTC)


@pytest.fixture
def own_db(fresh_database) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """Its own database: dropping a partition locks metric_facts for everyone."""
    engine = create_engine(fresh_database("retention"))
    upgrade(engine)
    yield engine
    engine.dispose()


def retention_settings(tmp_path: Path) -> Settings:
    s = make_settings(tmp_path)
    return s.model_copy(
        update={"retention_minute_days": 14, "retention_hour_days": 30, "retention_day_days": 0}
    )


def facts(g: str, start: datetime, n: int, step: timedelta, ad: str = "ad-1") -> list[FactInput]:
    return [
        FactInput(
            granularity=g,
            external_entity_id=ad,
            provider="meta",
            level="ad",
            event_at=start + i * step,
            currency="USD",
            spend=Decimal("1.25") + i,
            impressions=100 + i,
            clicks=i,
            purchase_value=Decimal("0.5"),
        )
        for i in range(n)
    ]


def seed(session: Session, settings: Settings) -> uuid.UUID:
    ws = make_workspace(session)
    jan, feb = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
    rows = (
        facts("minute", jan, 30, timedelta(minutes=1))
        + facts("hour", jan, 48, timedelta(hours=1))
        + facts("minute", feb, 20, timedelta(minutes=1))
        + facts("hour", feb, 24, timedelta(hours=1))
        + facts("day", feb, 5, timedelta(days=1))
    )
    upsert_facts(session, settings=settings, workspace_id=ws.id, records=rows)
    return ws.id


def count(session: Session, sql: str) -> int:
    return int(session.execute(text(sql)).scalar_one())


def test_retention_archives_and_drops_an_old_partition(own_db: Engine, tmp_path: Path) -> None:
    settings = retention_settings(tmp_path)
    sessions = make_sessionmaker(own_db)
    with unit_of_work(sessions) as s:
        seed(s, settings)
        jan_before = count(s, "SELECT count(*) FROM metric_facts_p2024_01")
        jan_spend = s.execute(
            text("SELECT sum(spend) FROM metric_facts_p2024_01 WHERE granularity = 'hour'")
        ).scalar_one()
        steps = service.plan(s, settings=settings, now=NOW)
    assert jan_before == 78
    assert [(st.table, st.granularities, st.drop_partition) for st in steps] == [
        ("metric_facts_p2024_01", ("hour", "minute"), True),
        ("metric_facts_p2024_02", ("minute",), False),
    ]
    for step in steps:
        with unit_of_work(sessions) as s:
            service.apply(s, settings=settings, step=step, now=NOW)

    with unit_of_work(sessions) as s:
        assert "metric_facts_p2024_01" not in existing_partitions(s)
        assert count(s, "SELECT count(*) FROM metric_facts WHERE event_at < '2024-02-01'") == 0
        # February keeps its hours and days; only its minutes went.
        assert count(s, "SELECT count(*) FROM metric_facts_p2024_02") == 29
        assert count(s, "SELECT count(*) FROM metric_facts WHERE granularity = 'minute'") == 0
        # Rollups of archived months read as empty; February's hours are untouched.
        assert (
            count(
                s,
                "SELECT count(*) FROM metric_rollups WHERE event_at < '2024-02-01'"
                " AND granularity NOT LIKE 'wk_%'",
            )
            == 0
        )
        assert count(s, "SELECT count(*) FROM metric_rollups WHERE granularity = 'hour'") > 0
        # No week row of January alone is left; the week of Jan 29 holds February's hours only.
        assert (
            count(
                s,
                "SELECT count(*) FROM metric_rollups WHERE granularity LIKE 'wk_%'"
                " AND event_at < '2024-01-29'",
            )
            == 0
        )
        week, hours = s.execute(
            text(
                "SELECT sum(spend) FILTER (WHERE granularity = 'wk_hour'),"
                " sum(spend) FILTER (WHERE granularity = 'hour') FROM metric_rollups"
                " WHERE level = 'workspace'"
            )
        ).one()
        assert week == hours and week > 0
        archives = {(a.month.month, a.granularity): a for a in s.query(FactArchive)}
    hour_file = Path(archives[(1, "hour")].path)
    assert hour_file.is_relative_to(settings.archive_path)
    rows = read_rows(hour_file)
    assert len(rows) == 48 == archives[(1, "hour")].rows
    assert sum(r["spend"] for r in rows) == jan_spend
    assert {r["granularity"] for r in rows} == {"hour"}
    assert len(read_rows(Path(archives[(1, "minute")].path))) == 30
    assert len(read_rows(Path(archives[(2, "minute")].path))) == 20
    # Nothing left to do: a second run plans nothing.
    with unit_of_work(sessions) as s:
        assert service.plan(s, settings=settings, now=NOW) == []


def test_a_file_left_by_a_run_that_died_is_set_aside_not_doubled(
    own_db: Engine, tmp_path: Path
) -> None:
    settings = retention_settings(tmp_path)
    sessions = make_sessionmaker(own_db)
    with unit_of_work(sessions) as s:
        seed(s, settings)
        steps = service.plan(s, settings=settings, now=NOW)
    february = steps[1]  # minutes only: their rows are deleted, the partition stays
    with unit_of_work(sessions) as s:
        service.apply(s, settings=settings, step=steps[0], now=NOW)
    # A run that wrote February's file and died before its commit: the file stays, and so
    # do the rows it holds.
    with pytest.raises(RuntimeError), unit_of_work(sessions) as s:
        service.apply(s, settings=settings, step=february, now=NOW - timedelta(hours=1))
        raise RuntimeError("killed before the commit")
    folder = settings.archive_path / "metric_facts" / "granularity=minute"
    [left] = folder.glob("2024-02_*.parquet")
    with unit_of_work(sessions) as s:
        assert count(s, "SELECT count(*) FROM metric_facts WHERE granularity = 'minute'") == 20
        [again] = service.plan(s, settings=settings, now=NOW)
        service.apply(s, settings=settings, step=again, now=NOW)
    with unit_of_work(sessions) as s:
        recorded = {a.path for a in s.query(FactArchive)}
    assert not left.exists() and left.with_name(left.name + ".orphaned").exists()
    [kept] = folder.glob("2024-02_*.parquet")  # one February file: the recorded one
    assert str(kept) in recorded and len(read_rows(kept)) == 20
    assert all(Path(p).exists() for p in recorded)  # January's archives untouched


def test_default_partition_stragglers_are_archived_and_deleted(
    own_db: Engine, tmp_path: Path
) -> None:
    settings = retention_settings(tmp_path)
    sessions = make_sessionmaker(own_db)
    with unit_of_work(sessions) as s:
        ws_id = seed(s, settings)
        entity = s.execute(text("SELECT entity_id FROM metric_facts LIMIT 1")).scalar_one()
        s.execute(
            text(
                "INSERT INTO metric_facts_default (natural_key, event_at, workspace_id, "
                "entity_id, provider, level, granularity, currency, spend) VALUES "
                "(:k, '2019-03-05T10:00Z', :ws, :e, 'meta', 'ad', 'hour', 'USD', 3.5)"
            ),
            {"k": uuid.uuid4(), "ws": ws_id, "e": entity},
        )
        steps = [st for st in service.plan(s, settings=settings, now=NOW) if "default" in st.table]
    assert [(st.month.isoformat(), st.granularities) for st in steps] == [("2019-03-01", ("hour",))]
    with unit_of_work(sessions) as s:
        [archive] = service.apply(s, settings=settings, step=steps[0], now=NOW)
        assert count(s, "SELECT count(*) FROM metric_facts_default") == 0
    assert archive.method == "delete_rows"
    assert [r["spend"] for r in read_rows(Path(archive.path))] == [Decimal("3.5")]


def test_a_partition_that_gained_rows_is_not_dropped(own_db: Engine, tmp_path: Path) -> None:
    settings = retention_settings(tmp_path)
    sessions = make_sessionmaker(own_db)
    with unit_of_work(sessions) as s:
        seed(s, settings)
        step = service.plan(s, settings=settings, now=NOW)[0]
        # A day fact lands in January after the plan was made: day facts are kept forever.
        upsert_facts(
            s,
            settings=settings,
            workspace_id=s.execute(text("SELECT id FROM workspaces")).scalar_one(),
            records=facts("day", datetime(2024, 1, 3, tzinfo=UTC), 1, timedelta(days=1)),
        )
    with pytest.raises(ArchiveMismatch), unit_of_work(sessions) as s:
        service.apply(s, settings=settings, step=step, now=NOW)
    with unit_of_work(sessions) as s:
        assert "metric_facts_p2024_01" in existing_partitions(s)
        assert count(s, "SELECT count(*) FROM fact_archives") == 0
    assert not list(settings.archive_path.rglob("*.parquet"))


# Breakdown facts: daily rows, archived by the daily keep-time.

JAN, FEB = date(2024, 1, 1), date(2024, 2, 1)


def breakdown_settings(tmp_path: Path, day_days: int = 30) -> Settings:
    return retention_settings(tmp_path).model_copy(update={"retention_day_days": day_days})


def seed_breakdowns(s: Session) -> Account:
    """January (old at NOW with a 30-day keep-time) and February (kept), with the week of
    Monday Jan 29 across the two, and a second set so a month holds more than one."""
    a = Account(s)
    ad0, ad1, ad2, ad3 = a.ads
    old = [
        bd_row(ad0, date(2024, 1, 10), "18-24", "female"),
        bd_row(ad0, date(2024, 1, 10), "25-34", "male", spend=D("7.40"), leads=D("2")),
        bd_row(ad1, date(2024, 1, 30), "18-24", "female", impressions=250, reach=None),
        bd_row(ad2, date(2024, 1, 31), "35-44", "unknown", conversions=None, purchases=None),
    ]
    recent = [
        bd_row(ad1, date(2024, 2, 1), "18-24", "female", spend=D("3.10")),
        bd_row(ad3, date(2024, 2, 2), "25-34", "male"),
        bd_row(ad3, date(2024, 2, 15), "25-34", "female", impressions=40),
    ]
    a.write(s, old, since=JAN, until=date(2024, 1, 31))
    a.write(s, recent, since=FEB, until=date(2024, 2, 29))
    a.write(
        s,
        [bd_row(ad0, date(2024, 1, 12), "US")],
        since=JAN,
        until=date(2024, 1, 31),
        breakdown="country",
    )
    a.write(
        s,
        [bd_row(ad0, date(2024, 2, 12), "FR")],
        since=FEB,
        until=date(2024, 2, 29),
        breakdown="country",
    )
    return a


def breakdown_partitions(s: Session) -> set[str]:
    return {
        r[0]
        for r in s.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'breakdown_facts'"
            )
        )
    }


def test_breakdown_months_past_the_daily_keep_time_are_archived_and_dropped(
    own_db: Engine, tmp_path: Path
) -> None:
    settings = breakdown_settings(tmp_path)
    sessions = make_sessionmaker(own_db)
    feb_sql = "SELECT * FROM breakdown_rollups WHERE span = 1 AND day >= '2024-02-01'"
    with unit_of_work(sessions) as s:
        ws = seed_breakdowns(s).ws.workspace.id
        old_rows, old_spend, old_impressions = s.execute(
            text(
                "SELECT count(*), sum(spend), sum(impressions) FROM breakdown_facts"
                " WHERE day < '2024-02-01'"
            )
        ).one()
        feb_facts = sorted(map(tuple, s.execute(text("SELECT * FROM breakdown_facts_p2024_02"))))
        feb_rollups = sorted(map(tuple, s.execute(text(feb_sql))))
        steps = service.plan(s, settings=settings, now=NOW)
    assert old_rows == 5
    assert [(st.table, st.granularities, st.drop_partition) for st in steps] == [
        ("breakdown_facts_p2024_01", ("day",), True)
    ]
    for step in steps:
        with unit_of_work(sessions) as s:
            service.apply(s, settings=settings, step=step, now=NOW)

    with unit_of_work(sessions) as s:
        assert "breakdown_facts_p2024_01" not in breakdown_partitions(s)
        assert count(s, "SELECT count(*) FROM breakdown_facts WHERE day < '2024-02-01'") == 0
        # February's facts and day rollups are exactly as they were.
        assert sorted(map(tuple, s.execute(text("SELECT * FROM breakdown_facts_p2024_02")))) == (
            feb_facts
        )
        assert sorted(map(tuple, s.execute(text(feb_sql)))) == feb_rollups
        assert count(s, "SELECT count(*) FROM breakdown_rollups WHERE day < '2024-01-29'") == 0
        # Every rollup left (the week of Jan 29 holds February's days only) is the facts that
        # remain summed afresh: a question on any range reads what the facts say.
        assert assert_rollups_match_facts(s, ws) > 0
        [archive] = s.query(FactArchive).all()
    assert (archive.month, archive.granularity, archive.source, archive.method) == (
        JAN,
        "day",
        "breakdown_facts_p2024_01",
        "drop_partition",
    )
    path = Path(archive.path)
    assert path.is_relative_to(settings.archive_path / "breakdown_facts" / "granularity=day")
    rows = read_rows(path)
    assert len(rows) == old_rows == archive.rows
    assert sum(r["spend"] for r in rows) == old_spend == archive.spend
    assert sum(r["impressions"] for r in rows) == old_impressions == archive.impressions
    assert {(r["day"], r["breakdown"], r["key1"], r["key2"]) for r in rows} == {
        (date(2024, 1, 10), "age_gender", "18-24", "female"),
        (date(2024, 1, 10), "age_gender", "25-34", "male"),
        (date(2024, 1, 30), "age_gender", "18-24", "female"),
        (date(2024, 1, 31), "age_gender", "35-44", "unknown"),
        (date(2024, 1, 12), "country", "US", ""),
    }
    assert [r["reach"] for r in rows if r["day"] == date(2024, 1, 30)] == [None]
    # Nothing left to do: a second run plans nothing.
    with unit_of_work(sessions) as s:
        assert service.plan(s, settings=settings, now=NOW) == []


def test_breakdowns_are_kept_forever_by_default(own_db: Engine, tmp_path: Path) -> None:
    settings = retention_settings(tmp_path)  # retention_day_days = 0, the default
    assert Settings.model_fields["retention_day_days"].default == 0
    sessions = make_sessionmaker(own_db)
    with unit_of_work(sessions) as s:
        seed_breakdowns(s)
        before = count(s, "SELECT count(*) FROM breakdown_facts")
        rollups_before = count(s, "SELECT count(*) FROM breakdown_rollups")
    out = run_retention(build_runtime(settings, engine=own_db))
    assert out["archived"] == [] and out["failed"] == []
    with unit_of_work(sessions) as s:
        assert count(s, "SELECT count(*) FROM breakdown_facts") == before == 9
        assert count(s, "SELECT count(*) FROM breakdown_rollups") == rollups_before
        assert "breakdown_facts_p2024_01" in breakdown_partitions(s)
        assert count(s, "SELECT count(*) FROM fact_archives") == 0
    assert not list(settings.archive_path.rglob("*.parquet"))


def test_the_retention_job_archives_breakdowns_once_after_a_run_that_died(
    own_db: Engine, tmp_path: Path
) -> None:
    settings = breakdown_settings(tmp_path, day_days=400)  # January 2024 is past it today
    sessions = make_sessionmaker(own_db)
    with unit_of_work(sessions) as s:
        a = seed_breakdowns(s)
        # A straggler of a month with no partition, in the default partition.
        s.execute(
            text(
                "INSERT INTO breakdown_facts_default (workspace_id, breakdown, entity_id, day,"
                " key1, key2, currency, spend, impressions, clicks) VALUES"
                " (:ws, 'country', :e, '2019-03-05', 'US', '', 'USD', 3.5, 10, 1)"
            ),
            {"ws": a.ws.workspace.id, "e": a.ads[0].id},
        )
        steps = service.plan(s, settings=settings)
    assert [(st.table, st.drop_partition) for st in steps] == [
        ("breakdown_facts_p2024_01", True),
        ("breakdown_facts_p2024_02", True),
        ("breakdown_facts_default", False),
    ]
    # A run that wrote January's file and died before its commit: the file stays, and so do
    # the rows it holds.
    with pytest.raises(RuntimeError), unit_of_work(sessions) as s:
        service.apply(s, settings=settings, step=steps[0], now=NOW)
        raise RuntimeError("killed before the commit")
    folder = settings.archive_path / "breakdown_facts" / "granularity=day"
    [left] = folder.glob("2024-01_*.parquet")
    with unit_of_work(sessions) as s:
        assert "breakdown_facts_p2024_01" in breakdown_partitions(s)
        assert count(s, "SELECT count(*) FROM fact_archives") == 0

    out = run_retention(build_runtime(settings, engine=own_db))
    assert out["failed"] == []
    assert sorted((a["facts"], a["month"], a["method"], a["rows"]) for a in out["archived"]) == [
        ("breakdown_facts", "2019-03-01", "delete_rows", 1),
        ("breakdown_facts", "2024-01-01", "drop_partition", 5),
        ("breakdown_facts", "2024-02-01", "drop_partition", 4),
    ]
    assert not left.exists() and left.with_name(left.name + ".orphaned").exists()
    with unit_of_work(sessions) as s:
        recorded = {x.path for x in s.query(FactArchive)}
        assert count(s, "SELECT count(*) FROM breakdown_facts") == 0
        assert count(s, "SELECT count(*) FROM breakdown_rollups") == 0
        assert not {"breakdown_facts_p2024_01", "breakdown_facts_p2024_02"} & (
            breakdown_partitions(s)
        )
    assert {str(p) for p in folder.glob("*.parquet")} == recorded  # one file per month
    assert sum(len(read_rows(Path(p))) for p in recorded) == 10
    # A second run finds nothing: nothing is archived twice.
    assert run_retention(build_runtime(settings, engine=own_db))["archived"] == []
