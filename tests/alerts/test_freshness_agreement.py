"""The stale-data alert, the dashboard's freshness (the ``/metrics/latest`` API the page is
built from) and the Prometheus freshness gauges read one definition (``metrics.freshness``), so
they agree on the same data: fresh, stale, a revoked token, and an account that synced fine but
delivered nothing new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.alerts import service
from metricx.alerts.evaluation import STALE_ALERT, evaluate
from metricx.connections.service import REAUTH_ALERT, token_invalid
from metricx.connections.tokens import store_token
from metricx.metrics.freshness import connection_freshness
from metricx.models import Fetch, RunStatus
from metricx.runtime import Runtime
from metricx.telemetry import _families, add_freshness
from tests.alerts.helpers import connected_account, dashboard_freshness, hour_ago, ingest_hour


@pytest.mark.parametrize(
    ("case", "alerted", "delayed", "state", "no_delivery", "attention"),
    [
        ("fresh", False, False, "fresh", False, None),
        ("stale", True, True, "stale", False, None),
        ("revoked_token", False, True, "blocked", False, "reauth"),
        ("synced_without_delivery", False, False, "fresh", True, None),
    ],
)
def test_the_alert_and_the_dashboard_agree(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    case: str,
    alerted: bool,
    delayed: bool,
    state: str,
    no_delivery: bool,
    attention: str | None,
) -> None:
    settings = runtime.settings
    conn, account = connected_account(db)
    ws = conn.workspace_id
    ingest_hour(db, settings, account, hour_ago(1 if case == "fresh" else 10))
    if case == "revoked_token":
        token = store_token(
            db, runtime.cipher, workspace_id=ws, access_token="EAArevoked", details=None,
            created_by=None,
        )  # fmt: skip
        conn.token_id = token.id
        db.flush()
        token_invalid(db, token, "the user removed the app", revoked=True)
    if case == "synced_without_delivery":
        finished = datetime.now(UTC) - timedelta(minutes=20)
        db.add(
            Fetch(
                workspace_id=ws,
                connection_id=conn.id,
                kind="sync",
                status=RunStatus.SUCCEEDED,
                window_start=finished.replace(hour=0, minute=0) - timedelta(days=2),
                window_end=finished.replace(hour=0, minute=0) + timedelta(days=1),
                created_at=finished - timedelta(minutes=2),
                finished_at=finished,
            )
        )
        db.flush()

    evaluate(db, settings=settings)
    stale_alerts = service.list_alerts(db, workspace_id=ws, kind=STALE_ALERT)
    shown = dashboard_freshness(client, db, ws)

    assert bool(stale_alerts) is alerted
    assert shown["delayed"] is delayed and shown["state"] == state
    assert shown["no_delivery"] is no_delivery and shown["attention"] == attention
    assert shown["newest_hour"] is not None  # every case has data; only its age differs
    if case == "revoked_token":  # not stale-alerted: the cause has its own alert
        assert service.list_alerts(db, workspace_id=ws, kind=REAUTH_ALERT)

    gauges = prometheus_freshness(db, settings.alert_stale_hours, str(conn.id))
    assert gauges.get("metricx_data_stale", 0) == (1 if alerted else 0)
    if case != "revoked_token":  # an active connection: every gauge is there
        behind = gauges["metricx_data_freshness_seconds"]
        assert (behind > settings.alert_stale_hours * 3600) is alerted
        assert gauges["metricx_newest_data_age_seconds"] > 0


def prometheus_freshness(db: Session, stale_hours: int, connection: str) -> dict[str, float]:
    """The freshness gauges a scrape would serve for ``connection`` (name -> value)."""
    families = _families()
    add_freshness(db, families, datetime.now(UTC), timedelta(hours=stale_hours))
    return {
        sample.name: sample.value
        for family in families.values()
        for sample in family.samples
        if sample.labels.get("connection") == connection
    }


def test_an_old_backfill_or_a_partial_sync_does_not_make_data_fresh(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    conn, account = connected_account(db)
    ingest_hour(db, runtime.settings, account, hour_ago(10))
    now = datetime.now(UTC)
    for status, window_end in (
        (RunStatus.SUCCEEDED, now - timedelta(days=30)),  # a backfill of past days
        (RunStatus.PARTIAL, now + timedelta(hours=5)),  # some chunks failed
    ):
        db.add(
            Fetch(
                workspace_id=conn.workspace_id,
                connection_id=conn.id,
                kind="sync",
                status=status,
                window_start=now - timedelta(days=40),
                window_end=window_end,
                finished_at=now - timedelta(minutes=5),
            )
        )
    db.flush()
    evaluate(db, settings=runtime.settings)
    assert service.list_alerts(db, workspace_id=conn.workspace_id, kind=STALE_ALERT)
    assert dashboard_freshness(client, db, conn.workspace_id)["state"] == "stale"


def test_an_account_without_rollups_is_dated_by_its_facts(db: Session, runtime: Runtime) -> None:
    """The newest hour comes from the account's rollups; where they are missing (facts
    written before rollups existed, or a rollup rebuild in progress) the hourly facts of the
    last 40 days answer, read for those connections only."""
    rolled, account = connected_account(db)
    ingest_hour(db, runtime.settings, account, hour_ago(2))
    bare, other = connected_account(db)
    ingest_hour(db, runtime.settings, other, hour_ago(5))
    db.execute(
        text("DELETE FROM metric_rollups WHERE entity_id = :id AND level = 'account'"),
        {"id": other.id},
    )
    empty, _ = connected_account(db)

    newest = {
        f.connection_id: f.newest_hour
        for ws in (rolled.workspace_id, bare.workspace_id, empty.workspace_id)
        for f in connection_freshness(db, workspace_id=ws)
    }

    assert newest[rolled.id] == hour_ago(2)
    assert newest[bare.id] == hour_ago(5)
    assert newest[empty.id] is None
