"""The app's shell: health, readiness, the error envelope, request ids, OpenAPI."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metricx.app import create_app
from metricx.migrate import upgrade
from metricx.models import User, UserSession
from metricx.runtime import build_runtime
from tests.conftest import make_settings
from tests.factories import PASSWORD, make_keyed_workspace, make_user


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "migrations": "ok"}


def test_readyz_fails_when_the_database_is_down(tmp_path: Path) -> None:
    # Nothing listens on port 1: the database is down for this app.
    settings = make_settings(tmp_path, "postgresql://postgres@127.0.0.1:1/metricx")
    runtime = build_runtime(settings)
    with TestClient(create_app(runtime)) as c:
        r = c.get("/readyz")
        assert c.get("/healthz").status_code == 200
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert r.json()["checks"]["database"].startswith("unreachable")


def test_readyz_fails_when_not_migrated(tmp_path: Path, fresh_database) -> None:  # type: ignore[no-untyped-def]
    runtime = build_runtime(make_settings(tmp_path, fresh_database("unmigrated")))
    with TestClient(create_app(runtime)) as c:
        r = c.get("/readyz")
    runtime.dispose()
    assert r.status_code == 503
    assert "metricx db upgrade" in r.json()["checks"]["migrations"]


def test_validation_error_names_the_field(client: TestClient, db: Session) -> None:
    r = client.post("/api/v1/auth/login", json={"email": "a@b.c"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert err["details"][0]["field"] == "password"
    assert "password" in err["message"]


def test_malformed_json_and_bad_ids_get_the_envelope(client: TestClient, db: Session) -> None:
    r = client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    mine = make_keyed_workspace(db)
    r = client.get("/api/v1/workspaces/not-a-uuid", headers=mine.headers)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "path.workspace_id"
    r = client.get("/api/v1/no-such-route")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_unknown_timezone_is_refused(client: TestClient, db: Session) -> None:
    mine = make_keyed_workspace(db)
    r = client.patch(
        f"/api/v1/workspaces/{mine.workspace.id}",
        json={"timezone": "Mars/Olympus"},
        headers=mine.headers,
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"] == {"field": "timezone"}


def test_request_id_is_echoed(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == (
        "abc-123"
    )
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


def test_openapi_lists_error_responses(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    get_ws = doc["paths"]["/api/v1/workspaces/{workspace_id}"]["get"]
    assert {"401", "404"} <= set(get_ws["responses"])


def test_openapi_refs_all_resolve(client: TestClient) -> None:
    """Client generators fail on a dangling $ref (the ingest body is documented by hand)."""
    document = client.get("/openapi.json").json()
    refs: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                refs.add(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    schemas = document["components"]["schemas"]
    assert "#/components/schemas/MetricFactCreate" in refs
    dangling = {r for r in refs if r.removeprefix("#/components/schemas/") not in schemas}
    assert dangling == set()


def test_a_request_commits_before_its_response_is_sent(tmp_path: Path, fresh_database) -> None:  # type: ignore[no-untyped-def]
    # A browser follows a redirect as soon as the response starts: the write it was told of
    # must already be visible to another connection by then (sign-in, then the dashboard).
    url = fresh_database("commit_order")
    runtime = build_runtime(make_settings(tmp_path, url))
    upgrade(runtime.engine)
    with runtime.sessions.begin() as s:
        user_id = make_user(s).id
        email = s.get(User, user_id).email  # type: ignore[union-attr]
    app = create_app(runtime)
    seen: list[int] = []

    async def watching(scope, receive, send):  # type: ignore[no-untyped-def]
        async def on_send(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start" and scope["path"].endswith("/login"):
                with runtime.engine.connect() as other:
                    seen.append(
                        other.scalar(select(func.count()).where(UserSession.user_id == user_id))
                        or 0
                    )
            await send(message)

        await app(scope, receive, on_send)

    with TestClient(watching) as c:
        r = c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    runtime.dispose()
    assert r.status_code == 200
    assert seen == [1]
