"""Migrations: upgrade from empty, downgrade to empty, and models and migrations agree."""

from __future__ import annotations

import shutil
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from metricx.ingest.records import FactInput
from metricx.migrate import (
    MIGRATIONS_DIR,
    check,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"

DOMAIN_TABLES = {
    "users",
    "user_sessions",
    "workspaces",
    "memberships",
    "api_keys",
    "tokens",
    "connections",
    "entities",
    "metric_facts",
    "fetches",
    "imports",
    "failed_records",
    "alerts",
}


def test_upgrade_downgrade_and_models_agree(fresh_database) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(fresh_database("migrations"))
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert tables >= DOMAIN_TABLES
        assert "procrastinate_jobs" in tables
        check(engine)  # autogenerate finds nothing to do

        downgrade(engine, "base")
        left = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert left == set(), f"downgrade left {left}"
        with engine.connect() as conn:
            procs = conn.execute(
                text(
                    "SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%' "
                    "OR proname LIKE 'metricx%'"
                )
            ).scalar_one()
        assert procs == 0

        upgrade(engine)  # and back up again from empty
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_metric_facts_is_partitioned_by_month(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        strategy = conn.execute(
            text("SELECT pg_get_partkeydef('metric_facts'::regclass)")
        ).scalar_one()
        money = conn.execute(
            text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'metric_facts' AND column_name = 'spend'"
            )
        ).scalar_one()
    assert strategy == "RANGE (event_at)"
    assert money == "numeric"


def test_rollups_move_to_each_accounts_own_days(fresh_database) -> None:  # type: ignore[no-untyped-def]
    """Facts stored before rollups knew zones: the upgrade sums them again on each account's
    calendar, exactly as the ingest merge now keeps them."""
    engine = create_engine(fresh_database("zones"))
    try:
        upgrade(engine, "a3c9e1f7d2b4")
        with engine.begin() as conn:
            ws = conn.execute(
                text(
                    "INSERT INTO workspaces (id, name, timezone) VALUES (gen_random_uuid(),"
                    " 'w', 'America/New_York') RETURNING id"
                )
            ).scalar_one()
            conn_id = conn.execute(
                text(
                    "INSERT INTO connections (id, workspace_id, provider, external_account_id,"
                    " name, currency, timezone, status) VALUES (gen_random_uuid(), :ws, 'meta',"
                    " 'act_1', 'k', 'INR', 'Asia/Kolkata', 'active') RETURNING id"
                ),
                {"ws": ws},
            ).scalar_one()
            parent = None
            for level in ("account", "campaign", "adset", "ad"):
                parent = conn.execute(
                    text(
                        "INSERT INTO entities (id, workspace_id, connection_id, provider, level,"
                        " external_id, parent_id) VALUES (gen_random_uuid(), :ws, :c, 'meta',"
                        " :l, :l, :p) RETURNING id"
                    ),
                    {"ws": ws, "c": conn_id, "l": level, "p": parent},
                ).scalar_one()
            # Kolkata's 20 and 21 November (midnight IST is 18:30 UTC the day before).
            for at, spend in (("2026-11-19T18:30Z", "10.5"), ("2026-11-20T18:30Z", "2.25")):
                conn.execute(
                    text(
                        "INSERT INTO metric_facts (natural_key, event_at, workspace_id,"
                        " entity_id, provider, level, granularity, spend, currency) VALUES"
                        " (gen_random_uuid(), :at, :ws, :ad, 'meta', 'ad', 'day', :s, 'INR')"
                    ),
                    {"at": at, "ws": ws, "ad": parent, "s": spend},
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT level, granularity, day::text, zone, spend::text FROM metric_rollups"
                    " WHERE level IN ('workspace', 'campaign') ORDER BY 1, 2, 3"
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            ("campaign", "day", "2026-11-20", "Asia/Kolkata", "10.500000"),
            ("campaign", "day", "2026-11-21", "Asia/Kolkata", "2.250000"),
            ("campaign", "wk_day", "2026-11-16", "Asia/Kolkata", "12.750000"),
            ("workspace", "day", "2026-11-20", "Asia/Kolkata", "10.500000"),
            ("workspace", "day", "2026-11-21", "Asia/Kolkata", "2.250000"),
            ("workspace", "wk_day", "2026-11-16", "Asia/Kolkata", "12.750000"),
        ]
    finally:
        engine.dispose()


def test_ads_and_day_rows_are_built_for_the_rollups_already_there(fresh_database) -> None:  # type: ignore[no-untyped-def]
    """Rollups stored before ads had rows and hours had day rows: the upgrade builds those
    rows exactly as the ingest merge now keeps them."""
    from random import Random

    from sqlalchemy.orm import Session

    from metricx.config import Settings
    from metricx.ingest.service import upsert_facts
    from metricx.models import Entity, Level, Provider
    from tests.factories import make_workspace
    from tests.ingest.helpers import make_connection
    from tests.metrics.test_rollups import START

    before = ScriptDirectory.from_config(_config()).get_revision(AD_DAYS).down_revision
    engine = create_engine(fresh_database("addays"))
    try:
        upgrade(engine)  # the facts written by today's ingest, then taken back to before
        with Session(engine) as db:
            ws = make_workspace(db, timezone="America/New_York")
            conn = make_connection(db, ws.id, timezone="Asia/Kolkata", currency="INR")
            parent = None
            for level in (Level.ACCOUNT, Level.CAMPAIGN, Level.ADSET):
                parent = Entity(
                    workspace_id=ws.id,
                    connection_id=conn.id,
                    provider=Provider.META,
                    level=level,
                    external_id=level.value,
                    parent_id=parent.id if parent else None,
                )
                db.add(parent)
                db.flush()
            ads = [
                Entity(
                    workspace_id=ws.id,
                    connection_id=conn.id,
                    provider=Provider.META,
                    level=Level.AD,
                    external_id=f"ad{n}",
                    parent_id=parent.id,
                )
                for n in range(3)
            ] + [
                Entity(
                    workspace_id=ws.id,
                    provider=Provider.OTHER,
                    level=Level.AD,
                    external_id="orphan",
                )
            ]  # the workspace's zone
            db.add_all(ads)
            db.flush()
            rng = Random(5)
            records = []
            for n, ad in enumerate(ads):
                zone = ZoneInfo("America/New_York" if n == 3 else "Asia/Kolkata")
                first = datetime.combine(START.date(), time(), zone)
                for k in range(40):  # hours over nine days, and each local day
                    records.append(hourly(ad, first + timedelta(hours=5 * k), rng))
                for d in range(9):
                    midnight = datetime.combine(START.date() + timedelta(days=d), time(), zone)
                    records.append(hourly(ad, midnight, rng, "day"))
            result = upsert_facts(
                db, settings=Settings(), workspace_id=ws.id, records=records, source="test"
            )
            assert result.failed == 0
            db.commit()
        rows = "SELECT * FROM metric_rollups ORDER BY level, entity_id, granularity, event_at,"
        rows += " currency, fact_level, provider, zone"
        with engine.begin() as c:
            kept = [tuple(r) for r in c.execute(text(rows))]
            assert {r[1:3] for r in kept} >= {
                ("dy_hour", "ad"),
                ("dy_hour", "adset"),
                ("day", "ad"),
            }
        downgrade(engine, str(before))  # which drops the ads' and the hours' day rows
        with engine.connect() as c:
            gone = "SELECT count(*) FROM metric_rollups WHERE level = 'ad'"
            gone += " OR granularity = 'dy_hour'"
            assert c.execute(text(gone)).scalar_one() == 0
        upgrade(engine)
        with engine.connect() as c:
            assert [tuple(r) for r in c.execute(text(rows))] == kept
    finally:
        engine.dispose()


def test_keys_move_to_the_workspace_on_a_populated_database(fresh_database) -> None:  # type: ignore[no-untyped-def]
    """0023 on rows written before it: they all stay (but an alert without a workspace, which
    the key cannot hold), references now go through the workspace, and the downgrade keeps
    them too."""
    engine = create_engine(fresh_database("shardkeys"))
    before = "5c2e9a7d1b60"

    def insert(conn, sql: str, **params):  # type: ignore[no-untyped-def]
        result = conn.execute(text(sql), params)
        return result.scalar() if result.returns_rows else None

    try:
        upgrade(engine, before)
        with engine.begin() as conn:
            ids = {}
            for name in ("a", "b"):
                ws = insert(
                    conn,
                    "INSERT INTO workspaces (id, name) VALUES (gen_random_uuid(), :n) RETURNING id",
                    n=name,
                )
                token = insert(
                    conn,
                    "INSERT INTO tokens (id, workspace_id, provider, access_token_enc, scopes,"
                    " status) VALUES (gen_random_uuid(), :ws, 'meta', 'x', '{}', 'valid')"
                    " RETURNING id",
                    ws=ws,
                )
                connection = insert(
                    conn,
                    "INSERT INTO connections (id, workspace_id, provider, external_account_id,"
                    " name, currency, timezone, status, token_id) VALUES (gen_random_uuid(),"
                    " :ws, 'meta', 'act_1', 'k', 'EUR', 'UTC', 'active', :t) RETURNING id",
                    ws=ws,
                    t=token,
                )
                account = insert(
                    conn,
                    "INSERT INTO entities (id, workspace_id, connection_id, provider, level,"
                    " external_id) VALUES (gen_random_uuid(), :ws, :c, 'meta', 'account', '1')"
                    " RETURNING id",
                    ws=ws,
                    c=connection,
                )
                ad = insert(
                    conn,
                    "INSERT INTO entities (id, workspace_id, connection_id, provider, level,"
                    " external_id, parent_id) VALUES (gen_random_uuid(), :ws, :c, 'meta', 'ad',"
                    " '2', :p) RETURNING id",
                    ws=ws,
                    c=connection,
                    p=account,
                )
                insert(
                    conn,
                    "INSERT INTO metric_facts (natural_key, event_at, workspace_id, entity_id,"
                    " provider, level, granularity, spend, currency) VALUES (gen_random_uuid(),"
                    " '2026-11-20T00:00Z', :ws, :ad, 'meta', 'ad', 'day', 1, 'EUR')",
                    ws=ws,
                    ad=ad,
                )
                alert = insert(
                    conn,
                    "INSERT INTO alerts (id, workspace_id, connection_id, kind, severity,"
                    " message) VALUES (gen_random_uuid(), :ws, :c, 'k', 'warning', 'm')"
                    " RETURNING id",
                    ws=ws,
                    c=connection,
                )
                channel = insert(
                    conn,
                    "INSERT INTO notification_channels (id, workspace_id, kind, name, config)"
                    " VALUES (gen_random_uuid(), :ws, 'webhook', 'c', '{}') RETURNING id",
                    ws=ws,
                )
                insert(
                    conn,
                    "INSERT INTO notification_deliveries (id, workspace_id, alert_id,"
                    " channel_id, event) VALUES (gen_random_uuid(), :ws, :a, :c, 'raised')",
                    ws=ws,
                    a=alert,
                    c=channel,
                )
                ids[name] = {"ws": ws, "connection": connection, "account": account, "ad": ad}
            insert(
                conn,
                "INSERT INTO alerts (id, kind, severity, message) VALUES (gen_random_uuid(),"
                " 'orphan', 'info', 'm')",
            )

        counts = (
            "SELECT (SELECT count(*) FROM entities), (SELECT count(*) FROM metric_facts),"
            " (SELECT count(*) FROM alerts), (SELECT count(*) FROM notification_deliveries),"
            " (SELECT count(*) FROM connections WHERE token_id IS NOT NULL)"
        )
        upgrade(engine)
        with engine.begin() as conn:
            assert tuple(conn.execute(text(counts)).one()) == (4, 2, 2, 2, 2)
            a, b = ids["a"], ids["b"]
            # A reference into another workspace is refused.
            try:
                with conn.begin_nested():
                    conn.execute(
                        text("UPDATE entities SET parent_id = :p WHERE id = :ad"),
                        {"p": b["account"], "ad": a["ad"]},
                    )
            except IntegrityError:
                pass
            else:
                raise AssertionError("a parent in another workspace was accepted")
            # SET NULL clears the reference only, never the workspace.
            conn.execute(text("DELETE FROM entities WHERE id = :e"), {"e": a["account"]})
            conn.execute(text("DELETE FROM connections WHERE id = :c"), {"c": a["connection"]})
            row = conn.execute(
                text("SELECT workspace_id, parent_id, connection_id FROM entities WHERE id = :e"),
                {"e": a["ad"]},
            ).one()
            assert tuple(row) == (a["ws"], None, None)
            assert conn.execute(text(counts)).one()[1:4] == (2, 1, 1)  # cascaded

        downgrade(engine, before)
        with engine.connect() as conn:
            assert tuple(conn.execute(text(counts)).one()) == (3, 2, 1, 1, 1)
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


AD_DAYS = "5c1e7a9d3b20"


def hourly(ad: Any, at: datetime, rng: Random, granularity: str = "hour") -> FactInput:
    return FactInput(
        granularity=granularity,
        entity_id=ad.id,
        event_at=at,
        currency="INR",
        spend=Decimal(rng.randrange(1, 9999)) / 100,
        impressions=rng.randrange(100),
        clicks=1,
        conversions=rng.choice([None, Decimal(2)]),
    )


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def chain_file_names(script_location: Path) -> list[str]:
    """The version files from the first revision to the head, following down_revision."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    scripts = ScriptDirectory.from_config(cfg)
    return [Path(s.path).name for s in reversed(list(scripts.walk_revisions("base", "heads")))]


def test_file_names_sort_in_chain_order() -> None:
    names = chain_file_names(MIGRATIONS_DIR)
    assert names == sorted(names)
    assert [n[:5] for n in names] == [f"{i:04d}_" for i in range(1, len(names) + 1)]
    on_disk = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    assert on_disk == names, "every version file is in the one chain"


def test_a_new_revision_gets_the_next_number(fresh_database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`alembic revision --autogenerate` from the checkout's alembic.ini, on a copy of the
    scripts: the new file is named with the number after the newest one, on top of the head."""
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = chain_file_names(copy)
    engine = create_engine(fresh_database("revision"))
    try:
        upgrade(engine)
        cfg = Config(str(ALEMBIC_INI))
        cfg.set_main_option("script_location", str(copy))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.revision(cfg, message="Add a thing", autogenerate=True)
    finally:
        engine.dispose()
    after = chain_file_names(copy)
    assert after == [*before, f"{len(before) + 1:04d}_add_a_thing.py"]


BREAKDOWN_MONTHS = "5c6d1f4b8e32"


def test_breakdown_month_rows_are_built_for_the_day_rows_already_there(fresh_database) -> None:  # type: ignore[no-untyped-def]
    """Breakdown rollups stored before months had rows: the upgrade sums them from the day
    rows exactly as the write path now keeps them."""
    from datetime import date

    from sqlalchemy.orm import Session

    from tests.facts.test_breakdowns import Account, assert_rollups_match_facts, row

    before = ScriptDirectory.from_config(_config()).get_revision(BREAKDOWN_MONTHS).down_revision
    engine = create_engine(fresh_database("bdmonths"))
    try:
        upgrade(engine)
        with Session(engine) as db:
            a = Account(db)
            rng = Random(27)
            first = date(2026, 1, 20)
            days = [first + timedelta(days=d) for d in range(45)]  # January into March
            rows = [
                row(ad, day, age, gender, spend=Decimal(rng.randrange(1, 900)) / 100)
                for ad in a.ads
                for day in days
                for age, gender in (("18-24", "female"), ("25-34", "male"))
                if rng.random() < 0.6
            ]
            a.write(db, rows, since=days[0], until=days[-1])
            assert assert_rollups_match_facts(db, a.ws.workspace.id) > 0
            db.commit()
        rows_sql = "SELECT * FROM breakdown_rollups"
        rows_sql += " ORDER BY level, span, day, entity_id, key1, key2"
        with engine.connect() as c:
            kept = [tuple(r) for r in c.execute(text(rows_sql))]
            assert {r[3] for r in kept} == {1, 7, 31}
        downgrade(engine, str(before))
        with engine.connect() as c:
            months = "SELECT count(*) FROM breakdown_rollups WHERE span = 31"
            assert c.execute(text(months)).scalar_one() == 0
        upgrade(engine)
        with engine.connect() as c:
            assert [tuple(r) for r in c.execute(text(rows_sql))] == kept
    finally:
        engine.dispose()
