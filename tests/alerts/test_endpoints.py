"""The alerts API: list open (or all) alerts of a workspace, resolve one."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.alerts import service
from tests.factories import make_keyed_workspace


def test_list_and_resolve_alerts(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    other = make_keyed_workspace(db)
    alert = service.raise_alert(
        db, workspace_id=ws.workspace.id, kind="stale_data", key="c1", message="no new hour"
    )
    service.raise_alert(db, workspace_id=other.workspace.id, kind="stale_data", message="other")
    url = f"/api/v1/workspaces/{ws.workspace.id}/alerts"

    listed = client.get(url, headers=ws.headers)
    assert listed.status_code == 200
    [item] = listed.json()["alerts"]
    assert item["id"] == str(alert.id) and item["message"] == "no new hour"

    resolved = client.post(f"{url}/{alert.id}/resolve", headers=ws.headers)
    assert resolved.status_code == 200 and resolved.json()["resolved_at"] is not None
    assert client.get(url, headers=ws.headers).json()["alerts"] == []
    everything = client.get(url, params={"include_resolved": "true"}, headers=ws.headers).json()
    assert [a["id"] for a in everything["alerts"]] == [str(alert.id)]


def test_another_workspaces_alert_is_not_found(client: TestClient, db: Session) -> None:
    ws = make_keyed_workspace(db)
    other = make_keyed_workspace(db)
    alert = service.raise_alert(db, workspace_id=other.workspace.id, kind="k", message="m")
    url = f"/api/v1/workspaces/{ws.workspace.id}/alerts/{alert.id}/resolve"
    response = client.post(url, headers=ws.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
