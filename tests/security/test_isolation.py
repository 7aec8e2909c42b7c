"""Tenant isolation, route by route: every workspace route of the API and of the web app is
enumerated from the running app (a new route is tested without anyone remembering to), then
called with workspace A's real ids by a signed-in member of workspace B and by an all-scopes
API key of workspace B. Each answers 404 and workspace A's rows do not change by one byte;
A's own admin key on the same request is *not* refused, so the ids were the right ones."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.alerts.service import raise_alert
from metricx.auth.service import create_api_key
from metricx.connections.tokens import store_token
from metricx.creatives import thumbnails
from metricx.models import Base, Connection, Creative, Provider, SavedView
from metricx.models.oauth import OAuthGrant
from metricx.runtime import Runtime
from metricx.sync.service import request_sync
from metricx.web.routes import PAGE_ROUTERS
from tests.factories import PASSWORD, make_user, make_workspace
from tests.ingest.helpers import fact, ingest_url, make_connection

PARAM = re.compile(r"{([a-z_]+)}")
SESSION = "__Host-metricx_session"  # the session cookie with Secure cookies (the tests' https)
# Routes that take a workspace id in the path but are not under it by name.
WORKSPACE_PARAM = "workspace_id"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # a template: /api/v1/workspaces/{workspace_id}/...
    web: bool


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix, route
            continue
        # FastAPI >= 0.16x wraps included routers; older versions flatten them.
        context = getattr(route, "include_context", None)
        if context is not None:
            inner = context.included_router
            yield from _walk(list(inner.routes), prefix + context.prefix)


def workspace_routes(app: FastAPI) -> list[Route]:
    """Every route of the app whose path names a workspace, API and web alike."""
    web_endpoints = {r.endpoint for router in PAGE_ROUTERS for r in router.routes}  # type: ignore[attr-defined]
    found: set[Route] = set()
    for prefix, route in _walk(list(app.routes)):
        path = prefix + route.path
        if "{" + WORKSPACE_PARAM + "}" not in path:
            continue
        for method in route.methods - {"HEAD"}:
            found.add(Route(method, path, route.endpoint in web_endpoints))
    return sorted(found, key=lambda r: (r.method != "GET", r.path, r.method))


@dataclass
class Victim:
    """Workspace A with one of everything a workspace route can reach."""

    workspace_id: uuid.UUID
    admin_headers: dict[str, str]
    ids: dict[str, uuid.UUID]


def build_victim(client: TestClient, db: Session, runtime: Runtime) -> Victim:
    ws = make_workspace(db)
    admin = create_api_key(db, workspace_id=ws.id, name="admin").key
    spare = create_api_key(db, workspace_id=ws.id, name="spare")
    headers = {"Authorization": f"Bearer {admin}"}
    # The channel's host is the operator's: allowed without resolving it (no DNS here).
    runtime.settings.notify_allowed_hosts = "hooks.example.com"
    conn = make_connection(db, ws.id)
    conn.token_id = store_token(
        db, runtime.cipher, workspace_id=ws.id, access_token="EAAvictim", details=None,
        created_by=None,
    ).id  # fmt: skip
    db.flush()
    fetch = request_sync(db, settings=runtime.settings, connection=conn)
    alert = raise_alert(db, workspace_id=ws.id, kind="stale_data", key="probe", message="m")
    bad = fact("ad-bad", spend="-1")
    answer = client.post(ingest_url(ws.id), json={"records": [fact("ad-1"), bad]}, headers=headers)
    assert answer.status_code == 200, answer.text
    channel = client.post(
        f"/api/v1/workspaces/{ws.id}/notification-channels",
        json={"kind": "webhook", "name": "ops", "webhook_url": "https://hooks.example.com/x"},
        headers=headers,
    )
    assert channel.status_code == 201, channel.text
    record = client.get(f"/api/v1/workspaces/{ws.id}/metrics/failed-records", headers=headers)
    conversion = client.post(
        f"/api/v1/workspaces/{ws.id}/conversions",
        json={"name": "Sign-ups", "action_types": ["complete_registration"]},
        headers=headers,
    )
    assert conversion.status_code == 201, conversion.text
    report = client.post(
        f"/api/v1/workspaces/{ws.id}/reports",
        json={"name": "Weekly", "channel_id": channel.json()["id"], "frequency": "weekly",
              "weekday": "monday", "hour": 8},
        headers=headers,
    )  # fmt: skip
    assert report.status_code == 201, report.text
    view = SavedView(workspace_id=ws.id, name="Team view", query="range=7d")
    db.add(view)
    # A creative with its thumbnail copied into the data dir (a sync would have made both).
    png = thumbnails.store(runtime.settings, b"\x89PNG\r\n\x1a\n" + b"victim", "image/png")
    db.add(
        Creative(
            workspace_id=ws.id,
            provider=Provider.META,
            external_id="120000424000000001",
            connection_id=conn.id,
            account_external_id=conn.external_account_id,
            name="Victim creative",
            thumbnail_sha256=png.sha256,
            thumbnail_content_type=png.content_type,
            thumbnail_bytes=png.size,
        )
    )
    db.flush()
    return Victim(
        ws.id,
        headers,
        {
            "workspace_id": ws.id,
            "connection_id": conn.id,
            "fetch_id": fetch.id,
            "alert_id": alert.id,
            "key_id": spare.row.id,
            "import_id": uuid.UUID(answer.json()["import_id"]),
            "record_id": uuid.UUID(_first(record.json())["id"]),
            "channel_id": uuid.UUID(channel.json()["id"]),
            "conversion_id": uuid.UUID(conversion.json()["id"]),
            "report_id": uuid.UUID(report.json()["id"]),
            "view_id": view.id,
            "creative_id": "120000424000000001",  # type: ignore[dict-item]
        },
    )


def _first(listing: Any) -> dict[str, Any]:
    items = listing if isinstance(listing, list) else next(
        v for v in listing.values() if isinstance(v, list)
    )  # fmt: skip
    return dict(items[0])


# A plausible body or form for each state-changing route, so that a missing check would show
# as a success (and a change) rather than hide behind a 422.
JSON_BODIES: dict[str, Any] = {
    "/api-keys": {"name": "stolen", "scopes": ["admin"]},
    "/metrics/ingest": {"records": [fact("ad-intruder")]},
    "/replay": {},
    "/connections": {"token": "EAAintruder"},
    "/notification-channels": {"kind": "webhook", "name": "x", "webhook_url": "https://e.x/y"},
    "/sync": {},
    "/breakdowns": {"sets": ["age"]},
}
QUERY: dict[str, dict[str, str]] = {
    "/metrics/query": {"start": "2026-01-01", "end": "2026-01-31"},
}


def body_for(route: Route) -> dict[str, Any]:
    if route.method in ("GET", "DELETE"):
        return {}
    if route.web:
        return {"data": {"since": "2026-01-01", "timezone": "UTC"}}
    if route.method == "PATCH":
        return {"json": {"name": "renamed by an intruder"}}
    for suffix, body in JSON_BODIES.items():
        if route.path.endswith(suffix):
            return {"json": body}
    return {}


def url_for(route: Route, ids: dict[str, uuid.UUID]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "action":
            return "disconnect"
        assert name in ids, f"{route}: give the victim a {name!r} (a new kind of id)"
        return str(ids[name])

    path = PARAM.sub(fill, route.path)
    query = next((q for suffix, q in QUERY.items() if route.path.endswith(suffix)), None)
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def snapshot(db: Session, workspace_id: uuid.UUID) -> dict[str, str]:
    """A digest of every row that belongs to the workspace, table by table."""
    db.flush()
    digests: dict[str, str] = {}
    for table in Base.metadata.sorted_tables:
        if "workspace_id" in table.c:
            where = "workspace_id = :ws"
        elif table.name == "workspaces":
            where = "id = :ws"
        else:
            continue
        rows = db.execute(
            text(f"SELECT t::text FROM {table.name} t WHERE {where} ORDER BY 1"),
            {"ws": workspace_id},
        ).scalars()
        digests[table.name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    digests["procrastinate_jobs"] = str(
        db.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar_one()
    )
    return digests


def test_every_workspace_route_is_enumerated(client: TestClient) -> None:
    routes = workspace_routes(client.app)  # type: ignore[arg-type]
    api = {r for r in routes if not r.web}
    web = {r for r in routes if r.web}
    documented = {
        (m.upper(), p)
        for p, ops in client.get("/openapi.json").json()["paths"].items()
        for m in ops
        if "{workspace_id}" in p
    }
    assert {(r.method, r.path) for r in api} >= documented
    assert len(api) >= 29 and len(web) >= 5
    assert any(r.path.endswith("/metrics/ingest") for r in api)
    assert any(r.path == "/w/{workspace_id}/events" for r in web)


def signed_in_cookie(client: TestClient, email: str) -> tuple[str, str]:
    client.cookies.clear()
    r = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = client.cookies.get(SESSION)
    client.cookies.clear()
    assert token
    return token, r.json()["csrf_token"]


@pytest.mark.parametrize("intruder", ["member", "api_key"])
def test_another_workspace_gets_404_on_every_route_and_changes_nothing(
    client: TestClient, db: Session, runtime: Runtime, intruder: str
) -> None:
    victim = build_victim(client, db, runtime)
    outsider = make_user(db)
    theirs = make_workspace(db, owner=outsider)
    if intruder == "member":
        cookie, csrf = signed_in_cookie(client, outsider.email)
        headers = {"Cookie": f"{SESSION}={cookie}", "X-CSRF-Token": csrf}
    else:
        key = create_api_key(db, workspace_id=theirs.id, name="all scopes").key
        headers = {"Authorization": f"Bearer {key}"}
    before = snapshot(db, victim.workspace_id)
    routes = workspace_routes(client.app)  # type: ignore[arg-type]
    answers: dict[Route, int] = {}
    for route in routes:
        extra = body_for(route)
        if route.web and intruder == "member":
            extra.setdefault("data", {})["csrf_token"] = csrf
        r = client.request(
            route.method,
            url_for(route, victim.ids),
            headers={**headers, "Accept": "text/html" if route.web else "application/json"},
            follow_redirects=False,
            **extra,
        )
        answers[route] = r.status_code
    # An API key is no browser session: the web app sends it to sign in (and changes nothing).
    allowed = {404} if intruder == "member" else {404, 303}
    wrong = {f"{r.method} {r.path}": s for r, s in answers.items() if s not in allowed}
    assert not wrong, f"routes that did not answer 404 to {intruder}: {wrong}"
    assert all(s == 404 for r, s in answers.items() if not r.web)
    assert snapshot(db, victim.workspace_id) == before


def test_the_owner_is_not_refused_on_the_same_requests(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    """The control: the ids the intruders used were real, so their 404 meant isolation."""
    victim = build_victim(client, db, runtime)
    runtime.settings.meta_graph_url = "http://127.0.0.1:9"  # nothing listens: fails fast
    runtime.settings.meta_max_retries = 0
    refused: dict[str, int] = {}
    # Deletions last, so no request meets an id an earlier one removed; a channel's last of
    # all (its report schedules go with it).
    routes = sorted(
        workspace_routes(client.app),  # type: ignore[arg-type]
        key=lambda r: (r.method == "DELETE", "notification-channels" in r.path),
    )
    for route in routes:
        if route.web:
            continue  # the pages' own tests sign in; an API key is no browser session
        r = client.request(
            route.method,
            url_for(route, victim.ids),
            headers=victim.admin_headers,
            follow_redirects=False,
            **body_for(route),
        )
        if r.status_code == 404 or r.status_code == 500:  # 502: Meta is unreachable here
            refused[f"{route.method} {route.path}"] = r.status_code
    assert not refused, refused


def test_pending_oauth_choice_belongs_to_the_user_who_started_it(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    owner = make_user(db)
    ws = make_workspace(db, owner=owner)
    token = store_token(
        db, runtime.cipher, workspace_id=ws.id, access_token="EAApending", details=None,
        created_by=None,
    )  # fmt: skip
    grant = OAuthGrant(
        provider=Provider.META,
        user_id=owner.id,
        workspace_id=ws.id,
        token_id=token.id,
        accounts=[{"id": "act_1", "name": "a", "currency": "USD", "timezone": "UTC"}],
        expires_at=datetime(2999, 1, 1, tzinfo=UTC),
    )
    db.add(grant)
    db.flush()
    stranger = make_user(db)
    cookie, csrf = signed_in_cookie(client, stranger.email)
    headers = {"Cookie": f"{SESSION}={cookie}", "X-CSRF-Token": csrf}
    before = snapshot(db, ws.id)
    path = f"/api/v1/auth/meta/pending/{grant.id}"
    assert client.get(path, headers=headers).status_code == 404
    assert client.post(path, json={"accounts": ["act_1"]}, headers=headers).status_code == 404
    assert snapshot(db, ws.id) == before
    assert db.get(Connection, grant.id) is None
