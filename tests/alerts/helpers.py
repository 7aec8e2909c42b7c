"""Builders for alert tests: a connection with its account entity, hourly facts for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.auth.service import create_api_key
from metricx.config import Settings
from metricx.ingest.records import FactInput
from metricx.ingest.service import upsert_facts
from metricx.models import Connection, Entity, Level, Provider
from tests.factories import make_workspace
from tests.ingest.helpers import make_connection


def connected_account(
    db: Session, *, age: timedelta = timedelta(days=2)
) -> tuple[Connection, Entity]:
    ws = make_workspace(db)
    conn = make_connection(db, ws.id)
    conn.created_at = datetime.now(UTC) - age
    account = Entity(
        workspace_id=ws.id,
        connection_id=conn.id,
        provider=Provider.META,
        level=Level.ACCOUNT,
        external_id=conn.external_account_id,
        name=conn.name,
    )
    db.add(account)
    db.flush()
    return conn, account


def hour_ago(hours: int) -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)


def ingest_hour(db: Session, settings: Settings, account: Entity, start: datetime) -> None:
    upsert_facts(
        db,
        settings=settings,
        workspace_id=account.workspace_id,
        records=[
            FactInput(
                granularity="hour",
                entity_id=account.id,
                event_at=start,
                currency="USD",
                spend=1,
                impressions=10,
                clicks=1,
            )
        ],
    )


def dashboard_freshness(client: TestClient, db: Session, workspace_id: Any) -> dict[str, Any]:
    """The workspace's one connection's freshness as /metrics/latest answers it."""
    key = create_api_key(db, workspace_id=workspace_id).key
    answer = client.get(
        f"/api/v1/workspaces/{workspace_id}/metrics/latest",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["freshness"]
    return dict(item)
