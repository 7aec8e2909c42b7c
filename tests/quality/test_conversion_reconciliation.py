"""Reconciliation of conversions against the sandbox: purchases, purchase value and results
summed from the stored ad facts equal Meta's own account, campaign and ad set totals on clean
data (rows Meta gives no total for are skipped with the reason), and a planted discrepancy in
purchases is found at every level that has a total."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import text

from metricx.db import unit_of_work
from metricx.integrations.meta.insights_rows import LevelTotalsRow
from metricx.models import Connection, RunStatus
from metricx.quality import reconciliation
from metricx.quality.finding import LEVEL_TOTAL_MISMATCH
from metricx.quality.service import (
    LEVEL_CHECK,
    meta_totals_for,
    validate_connection,
    validation_window,
)
from metricx.runtime import Runtime
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import sandbox_clients
from tests.sync.test_sync_sandbox import connect_account, request, run, sandbox_now

PLANT = text(
    """
    UPDATE metric_facts f SET purchases = f.purchases + 1
    FROM (
      SELECT f2.entity_id, f2.event_at FROM metric_facts f2 JOIN entities e ON e.id = f2.entity_id
      WHERE e.connection_id = :c AND f2.level = 'ad' AND f2.granularity = 'day'
        AND f2.purchases > 0 AND (f2.event_at AT TIME ZONE :tz)::date = :day
      ORDER BY f2.event_at, e.external_id LIMIT 1) p
    WHERE f.entity_id = p.entity_id AND f.event_at = p.event_at AND f.level = 'ad'
      AND f.granularity = 'day'
    RETURNING (SELECT s.external_id FROM entities a JOIN entities s ON s.id = a.parent_id
               WHERE a.id = f.entity_id)
    """
)


def synced(runtime: Runtime, box: MetaSandbox, index: int) -> Connection:
    runtime.settings.sync_backfill_days = 10
    connection = connect_account(runtime, box, index)
    fetch = run(runtime, box, request(runtime, connection, box))
    assert fetch.status is RunStatus.SUCCEEDED
    return connection


def test_purchases_value_and_results_match_metas_totals_on_clean_data(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = synced(sync_runtime, sync_sandbox, 1)
    with unit_of_work(sync_runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        meta = meta_totals_for(
            session,
            settings=sync_runtime.settings,
            cipher=sync_runtime.cipher,
            connection=row,
            client_factory=sandbox_clients(sync_sandbox),
        )
        assert meta is not None
        seen: list[LevelTotalsRow] = []

        def recording(level: str, since: date, until: date) -> list[LevelTotalsRow]:
            rows = list(meta(level, since, until))
            seen.extend(rows)
            return rows

        window = validation_window(sync_runtime.settings, row, sandbox_now(sync_sandbox))
        skipped: dict[str, str] = {}
        findings = reconciliation.level_totals(
            session,
            window,
            fetch=recording,
            levels=["account", "campaign", "adset"],
            tolerance=0.0,
            skipped=skipped,
        )
        assert [f.message for f in findings] == []
        # Conversions were compared where Meta has them, and skipped with a reason elsewhere.
        compared = [r for r in seen if r.purchases]
        assert compared and sum((r.purchases or Decimal(0)) for r in compared) > 0
        assert any(r.results for r in seen)
        assert all(r.purchases is None for r in seen if r.attribution_setting == "mixed")
        if any(r.attribution_setting == "mixed" for r in seen):
            assert "attribution settings" in skipped["level_totals.conversions"]
        result = validate_connection(
            session,
            settings=sync_runtime.settings,
            connection=row,
            meta=meta,
            now=sandbox_now(sync_sandbox),
        )
        assert LEVEL_CHECK in result.checks and LEVEL_CHECK not in result.skipped
        assert [f.message for f in result.findings] == []


def test_a_planted_purchase_discrepancy_is_found_at_each_level_with_a_total(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = synced(sync_runtime, sync_sandbox, 2)
    with unit_of_work(sync_runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        now = sandbox_now(sync_sandbox)
        window = validation_window(sync_runtime.settings, row, now)
        day = window.until
        adset = session.execute(
            PLANT, {"c": connection.id, "tz": connection.timezone, "day": day}
        ).scalar_one()
        meta = meta_totals_for(
            session,
            settings=sync_runtime.settings,
            cipher=sync_runtime.cipher,
            connection=row,
            client_factory=sandbox_clients(sync_sandbox),
        )
        result = validate_connection(
            session, settings=sync_runtime.settings, connection=row, meta=meta, now=now
        )
        found = [f for f in result.findings if f.kind == LEVEL_TOTAL_MISMATCH]
        assert found, "the planted purchase went unnoticed"
        by_level = {f.level: f for f in found}
        ours = by_level["adset"]
        assert ours.external_id == adset
        assert ours.numbers["purchases"]["difference"] == "1"
        assert ours.numbers["spend"]["difference"] in ("0", 0)
        assert "purchases" in ours.message
        for f in found:  # only purchases are off, and only on the planted day
            assert f.period_start is not None and f.numbers["purchases"]["difference"] == "1"
        assert set(by_level) <= {"adset", "campaign", "account"}
