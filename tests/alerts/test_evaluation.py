"""Alert conditions: raised on data made to trigger them, deduplicated while they hold,
resolved automatically when they clear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from metricx.alerts import service
from metricx.alerts.evaluation import STALE_ALERT, SYNC_ALERT, evaluate
from metricx.config import Settings
from metricx.connections.service import EXPIRY_ALERT, REAUTH_ALERT
from metricx.ingest.service import ALERT_KIND as INGEST_ALERT
from metricx.models import ConnectionStatus, Fetch, RunStatus, Severity
from metricx.worker.alerting import evaluate_all
from tests.alerts.helpers import connected_account, hour_ago, ingest_hour


def open_alerts(db: Session, workspace_id, kind: str):  # type: ignore[no-untyped-def]
    return service.list_alerts(db, workspace_id=workspace_id, kind=kind)


def test_stale_data_is_raised_counted_and_resolved_by_a_new_hour(
    db: Session, settings: Settings
) -> None:
    conn, account = connected_account(db)
    ingest_hour(db, settings, account, hour_ago(10))

    evaluate(db, settings=settings)
    evaluate(db, settings=settings)
    [alert] = open_alerts(db, conn.workspace_id, STALE_ALERT)
    assert alert.count == 2 and alert.key == str(conn.id)
    assert conn.name in alert.message

    ingest_hour(db, settings, account, hour_ago(1))
    evaluate(db, settings=settings)
    assert open_alerts(db, conn.workspace_id, STALE_ALERT) == []
    db.refresh(alert)
    assert alert.resolved_at is not None


def test_a_fresh_or_paused_connection_is_not_stale(db: Session, settings: Settings) -> None:
    fresh, account = connected_account(db)
    ingest_hour(db, settings, account, hour_ago(2))
    new, _ = connected_account(db, age=timedelta(hours=1))  # no data yet, but just connected
    paused, _ = connected_account(db)
    paused.status = ConnectionStatus.PAUSED
    db.flush()
    evaluate(db, settings=settings)
    for conn in (fresh, new, paused):
        assert open_alerts(db, conn.workspace_id, STALE_ALERT) == []


def test_a_connection_without_any_data_goes_stale(db: Session, settings: Settings) -> None:
    conn, _ = connected_account(db, age=timedelta(hours=7))
    evaluate(db, settings=settings)
    [alert] = open_alerts(db, conn.workspace_id, STALE_ALERT)
    assert "since it was connected" in alert.message


def add_fetch(db: Session, conn, status: RunStatus, minutes_ago: int) -> None:  # type: ignore[no-untyped-def]
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    db.add(
        Fetch(
            workspace_id=conn.workspace_id,
            connection_id=conn.id,
            kind="insights",
            status=status,
            error="Meta said no" if status is RunStatus.FAILED else None,
            created_at=at,
            finished_at=at,
        )
    )
    db.flush()


def test_repeated_sync_failures_raise_and_a_success_resolves(
    db: Session, settings: Settings
) -> None:
    conn, _ = connected_account(db)
    add_fetch(db, conn, RunStatus.SUCCEEDED, 60)
    add_fetch(db, conn, RunStatus.FAILED, 50)
    add_fetch(db, conn, RunStatus.FAILED, 40)
    evaluate(db, settings=settings)
    assert open_alerts(db, conn.workspace_id, SYNC_ALERT) == []  # two in a row: not yet

    add_fetch(db, conn, RunStatus.FAILED, 30)
    evaluate(db, settings=settings)
    evaluate(db, settings=settings)
    [alert] = open_alerts(db, conn.workspace_id, SYNC_ALERT)
    assert alert.count == 2 and alert.severity is Severity.CRITICAL
    assert "Meta said no" in alert.message

    add_fetch(db, conn, RunStatus.SUCCEEDED, 5)
    evaluate(db, settings=settings)
    assert open_alerts(db, conn.workspace_id, SYNC_ALERT) == []


def test_ingest_failure_alert_clears_after_a_quiet_window(db: Session, settings: Settings) -> None:
    conn, _ = connected_account(db)
    service.raise_alert(db, workspace_id=conn.workspace_id, kind=INGEST_ALERT, message="3 failed")
    evaluate_all(db, settings=settings)
    assert len(open_alerts(db, conn.workspace_id, INGEST_ALERT)) == 1  # still in its window
    later = datetime.now(UTC) + timedelta(minutes=settings.ingest_alert_window_minutes + 1)
    evaluate_all(db, settings=settings, now=later)
    assert open_alerts(db, conn.workspace_id, INGEST_ALERT) == []


def test_token_and_reauth_alerts_of_the_connections_service_clear(
    db: Session, settings: Settings
) -> None:
    conn, _ = connected_account(db)
    ws = conn.workspace_id
    service.raise_alert(db, workspace_id=ws, kind=REAUTH_ALERT, key=str(conn.id), message="x")
    service.raise_alert(db, workspace_id=ws, kind=EXPIRY_ALERT, key=str(conn.id), message="y")
    conn.status = ConnectionStatus.NEEDS_REAUTH
    db.flush()
    evaluate_all(db, settings=settings)
    assert len(open_alerts(db, ws, REAUTH_ALERT)) == 1
    assert open_alerts(db, ws, EXPIRY_ALERT) == []  # no token in use under that id

    conn.status = ConnectionStatus.ACTIVE
    db.flush()
    evaluate_all(db, settings=settings)
    assert open_alerts(db, ws, REAUTH_ALERT) == []
