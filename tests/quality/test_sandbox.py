"""Clean data synced from the sandbox (through the real SDK) raises no finding, Meta's own
level totals included; and a finished sync queues its validation."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from metricx.db import unit_of_work
from metricx.models import Connection, RunStatus
from metricx.quality.service import meta_totals_for, validate_connection
from metricx.runtime import Runtime
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import sandbox_clients
from tests.sync.test_sync_sandbox import connect_account, request, run, sandbox_now


@pytest.mark.parametrize("index", [0, 1, 2, 3], ids=["los_angeles", "berlin", "utc", "kolkata"])
def test_clean_sandbox_sync_has_no_findings(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox, index: int
) -> None:
    sync_runtime.settings.sync_backfill_days = 24  # the 7-day window and its 14-day baselines
    connection = connect_account(sync_runtime, sync_sandbox, index)
    fetch = run(sync_runtime, sync_sandbox, request(sync_runtime, connection, sync_sandbox))
    assert fetch.status is RunStatus.SUCCEEDED
    with unit_of_work(sync_runtime.sessions) as session:
        jobs = session.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'validate_connection'"
                " AND args->>'connection_id' = :c"
            ),
            {"c": str(connection.id)},
        ).scalar_one()
        assert jobs == 1  # the sync queued its validation
        row = session.get(Connection, connection.id)
        assert row is not None
        meta = meta_totals_for(
            session,
            settings=sync_runtime.settings,
            cipher=sync_runtime.cipher,
            connection=row,
            client_factory=sandbox_clients(sync_sandbox),
        )
        result = validate_connection(
            session,
            settings=sync_runtime.settings,
            connection=row,
            meta=meta,
            now=sandbox_now(sync_sandbox),
        )
        assert "level_totals" in result.checks and "level_totals" not in result.skipped
        # Only conversion totals Meta does not give (ad sets mixing attribution settings or
        # results) are left out, each with its reason.
        assert set(result.skipped) <= {"level_totals.conversions", "level_totals.results"}
        assert [f.message for f in result.findings] == []
