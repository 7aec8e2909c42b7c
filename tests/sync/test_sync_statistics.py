"""A sync leaves no table it filled unanalyzed: questions asked right after a new install's
first sync are planned from the tables' real contents, not from an empty table's guesses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from metricx.db import make_engine
from metricx.migrate import upgrade
from metricx.runtime import build_runtime
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account
from tests.sync.test_sync_sandbox import request, run

# The tables a Meta sync writes its entities and facts to (partitions: their months).
FILLED = ("entities", "metric_facts_p%", "action_facts_p%", "metric_rollups%")


def unanalyzed_with_rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r'"
                    " AND c.relnamespace = 'public'::regnamespace AND c.reltuples < 0"
                    " AND pg_relation_size(c.oid) > 0 AND c.relname LIKE ANY(:filled)"
                ),
                {"filled": list(FILLED)},
            ).scalars()
        )


def test_a_sync_analyzes_the_tables_it_filled(
    fresh_database: Callable[[str], str], sync_sandbox: MetaSandbox, tmp_path: Path
) -> None:
    url = fresh_database("sync_stats")
    admin = create_engine(url)
    upgrade(admin)
    with admin.begin() as conn:  # only metricx analyzes here: autovacuum must not come first
        for (name,) in conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relkind = 'r'"
                " AND relnamespace = 'public'::regnamespace"
            )
        ):
            conn.execute(text(f'ALTER TABLE "{name}" SET (autovacuum_enabled = false)'))
    engine = make_engine(url)
    runtime = build_runtime(sync_sandbox.settings(tmp_path, url), engine=engine)
    try:
        connection = connect_account(runtime, sync_sandbox, 0)

        fetch = run(runtime, sync_sandbox, request(runtime, connection, sync_sandbox))

        assert fetch.status.value == "succeeded"
        with admin.connect() as conn:
            filled = conn.execute(
                text(
                    "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND reltuples > 0"
                    " AND relname LIKE ANY(:filled)"
                ),
                {"filled": list(FILLED)},
            ).scalar_one()
        assert filled >= 3  # entities and at least a month of metric and action facts
        assert unanalyzed_with_rows(admin) == []
    finally:
        engine.dispose()
        admin.dispose()
