"""Migrations: upgrade from empty, downgrade to empty, and models and migrations agree."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from metricx.migrate import check, current_revision, downgrade, head_revision, upgrade

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
