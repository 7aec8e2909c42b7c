"""API keys reach exactly their workspace; revoked and unknown keys are refused."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.auth.schemas import ApiKeyScope
from metricx.auth.service import MAX_LIVE_API_KEYS, create_api_key
from metricx.models import ApiKey
from tests.factories import make_keyed_workspace, make_workspace


def test_api_key_reaches_its_workspace(client: TestClient, db: Session) -> None:
    mine = make_keyed_workspace(db, timezone="Europe/Berlin")
    r = client.get(f"/api/v1/workspaces/{mine.workspace.id}", headers=mine.headers)
    assert r.status_code == 200
    assert r.json()["id"] == str(mine.workspace.id)
    assert r.json()["timezone"] == "Europe/Berlin"


def test_another_workspace_answers_404_like_a_missing_one(client: TestClient, db: Session) -> None:
    mine = make_keyed_workspace(db)
    other = make_workspace(db)
    r_other = client.get(f"/api/v1/workspaces/{other.id}", headers=mine.headers)
    r_missing = client.get(f"/api/v1/workspaces/{uuid.uuid4()}", headers=mine.headers)
    assert r_other.status_code == r_missing.status_code == 404
    assert r_other.json() == r_missing.json()
    assert r_other.json()["error"]["code"] == "not_found"


def test_revoked_key_is_refused(client: TestClient, db: Session) -> None:
    mine = make_keyed_workspace(db)
    path = f"/api/v1/workspaces/{mine.workspace.id}"
    keys = client.get(f"{path}/api-keys", headers=mine.headers).json()
    assert len(keys) == 1 and "key" not in keys[0]
    r = client.delete(f"{path}/api-keys/{keys[0]['id']}", headers=mine.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = client.get(path, headers=mine.headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


def test_unknown_key_and_no_credentials_are_401(client: TestClient, db: Session) -> None:
    ws = make_workspace(db)
    path = f"/api/v1/workspaces/{ws.id}"
    assert client.get(path).status_code == 401
    bogus = {"Authorization": "Bearer mx_nothing_here"}
    assert client.get(path, headers=bogus).status_code == 401
    malformed = {"Authorization": "Basic abc"}
    assert client.get(path, headers=malformed).status_code == 401


def test_key_is_stored_hashed_and_shown_once(client: TestClient, db: Session) -> None:
    mine = make_keyed_workspace(db)
    r = client.post(
        f"/api/v1/workspaces/{mine.workspace.id}/api-keys",
        json={"name": "ci", "scopes": ["read"]},
        headers=mine.headers,
    )
    assert r.status_code == 201
    key = r.json()["key"]
    row = db.get(ApiKey, uuid.UUID(r.json()["id"]))
    assert row is not None and key not in (row.key_hash, row.prefix)
    listed = client.get(f"/api/v1/workspaces/{mine.workspace.id}/api-keys", headers=mine.headers)
    assert key not in listed.text


def test_read_only_key_cannot_manage_keys(client: TestClient, db: Session) -> None:
    ws = make_workspace(db)
    reader = create_api_key(db, workspace_id=ws.id, scopes=[ApiKeyScope.READ]).key
    headers = {"Authorization": f"Bearer {reader}"}
    assert client.get(f"/api/v1/workspaces/{ws.id}", headers=headers).status_code == 200
    r = client.get(f"/api/v1/workspaces/{ws.id}/api-keys", headers=headers)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"


def test_a_workspace_holds_at_most_max_live_keys(client: TestClient, db: Session) -> None:
    mine = make_keyed_workspace(db)  # its first live key
    for n in range(MAX_LIVE_API_KEYS - 1):
        create_api_key(db, workspace_id=mine.workspace.id, name=f"k{n}")
    path = f"/api/v1/workspaces/{mine.workspace.id}/api-keys"
    refused = client.post(path, json={"name": "one too many"}, headers=mine.headers)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "too_many_api_keys"
    assert error["details"] == {"limit": MAX_LIVE_API_KEYS} and "revoke one" in error["message"]
    keys = client.get(path, headers=mine.headers).json()
    assert len(keys) == MAX_LIVE_API_KEYS
    spare = next(k for k in keys if k["name"] == "k0")
    assert client.delete(f"{path}/{spare['id']}", headers=mine.headers).status_code == 200
    again = client.post(path, json={"name": "after a revocation"}, headers=mine.headers)
    assert again.status_code == 201, again.text


def test_the_key_listing_comes_a_page_at_a_time_and_filters_revoked_keys(
    client: TestClient, db: Session
) -> None:
    mine = make_keyed_workspace(db)  # its first live key, "k"
    made = [create_api_key(db, workspace_id=mine.workspace.id, name=f"k{n}") for n in range(5)]
    path = f"/api/v1/workspaces/{mine.workspace.id}/api-keys"
    for gone in made[:3]:
        assert client.delete(f"{path}/{gone.row.id}", headers=mine.headers).status_code == 200
    everything = client.get(path, headers=mine.headers).json()
    assert len(everything) == 6
    pages = [
        client.get(path, params={"limit": 4, "offset": o}, headers=mine.headers).json()
        for o in (0, 4)
    ]
    assert [len(p) for p in pages] == [4, 2] and pages[0] + pages[1] == everything
    revoked = client.get(path, params={"revoked": "true"}, headers=mine.headers).json()
    assert {k["name"] for k in revoked} == {"k0", "k1", "k2"}
    assert all(k["revoked_at"] for k in revoked)
    live = client.get(path, params={"revoked": "false"}, headers=mine.headers).json()
    assert len(live) == 3 and not any(k["revoked_at"] for k in live)
    too_many = client.get(path, params={"limit": 501}, headers=mine.headers)
    assert too_many.status_code == 422 and "limit" in too_many.text
