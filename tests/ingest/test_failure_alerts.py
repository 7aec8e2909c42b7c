"""Repeated failed or partial imports raise one alert row (counted), and log an error."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from metricx.models import Alert
from metricx.runtime import Runtime
from tests.factories import make_keyed_workspace
from tests.ingest.helpers import fact, ingest


def open_alerts(db: Session, workspace_id: object) -> list[Alert]:
    db.expire_all()
    return list(
        db.scalars(
            select(Alert).where(Alert.workspace_id == workspace_id, Alert.resolved_at.is_(None))
        )
    )


def test_alert_after_repeated_failures(client: TestClient, db: Session, runtime: Runtime) -> None:
    runtime.settings.ingest_alert_failures = 3
    ws = make_keyed_workspace(db)
    assert ingest(client, ws, [fact("a")]).status_code == 200  # a success does not count
    for _ in range(2):
        r = ingest(client, ws, [fact("a"), fact("b", spend=-1)])
        assert r.status_code == 200 and r.json()["status"] == "partial", r.text
    assert open_alerts(db, ws.workspace.id) == []
    r = ingest(client, ws, [fact("b", spend="NaN")])
    assert r.status_code == 422 and r.json()["status"] == "failed", r.text
    [alert] = open_alerts(db, ws.workspace.id)
    assert (alert.kind, alert.count) == ("ingest_failures", 1)
    assert alert.details and alert.details["count"] == 3
    ingest(client, ws, [fact("b", spend=-2)])
    [alert] = open_alerts(db, ws.workspace.id)
    assert alert.count == 2 and alert.details and alert.details["count"] == 4
    other = make_keyed_workspace(db)
    assert open_alerts(db, other.workspace.id) == []
