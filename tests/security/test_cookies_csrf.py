"""Browser sessions: the cookie's flags (HttpOnly, SameSite, Secure outside the demo), and a
CSRF token on every state-changing request a cookie can authorize, pages and API alike
(enumerated from the app, so a new form cannot forget it)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from metricx.auth.service import email_digest
from metricx.models import SignInFailure
from metricx.runtime import Runtime
from metricx.sync.service import request_sync
from tests.factories import PASSWORD, make_user, make_workspace
from tests.ingest.helpers import make_connection
from tests.security.test_isolation import Route, _walk, snapshot
from tests.web.login_form import login_form_token, post_login_form

# Where a cookie is not yet a session: signing in is what makes one. The sign-in form has
# its own pre-session token (test_login_csrf.py) and is checked below like every form.
SIGN_IN = {("POST", "/api/v1/auth/login")}
SAFE = {"GET", "HEAD", "OPTIONS"}


def state_changing_routes(client: TestClient) -> list[Route]:
    found: set[Route] = set()
    for prefix, route in _walk(list(client.app.routes)):  # type: ignore[attr-defined]
        path = prefix + route.path
        for method in route.methods - SAFE:
            if (method, path) not in SIGN_IN:
                found.add(Route(method, path, not path.startswith("/api/")))
    return sorted(found, key=lambda r: (r.path, r.method))


def cookie_flags(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def session_cookie(answer: httpx.Response) -> str:
    name = "__Host-metricx_session="  # Secure cookies: the __Host- prefix
    found = [c for c in answer.headers.get_list("set-cookie") if c.startswith(name)]
    assert len(found) == 1, answer.headers.get_list("set-cookie")
    return found[0]


@pytest.mark.parametrize("path", ["/login", "/api/v1/auth/login"])
def test_session_cookie_is_httponly_secure_and_samesite(
    client: TestClient, db: Session, path: str
) -> None:
    user = make_user(db)
    if path == "/login":
        r = post_login_form(client, user.email, PASSWORD, follow_redirects=False)
    else:
        r = client.post(path, json={"email": user.email, "password": PASSWORD})
    assert r.status_code in (200, 303), r.text
    flags = cookie_flags(session_cookie(r))
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags
    assert any(f.startswith("max-age=") for f in flags)


def test_demo_cookie_is_not_secure_but_still_httponly_and_samesite(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    runtime.settings.secure_cookies = False  # the demo: plain http on loopback
    user = make_user(db)
    r = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    flags = cookie_flags(r.headers["set-cookie"])
    assert "secure" not in flags and {"httponly", "samesite=lax"} <= flags


def test_every_state_changing_route_is_enumerated(client: TestClient) -> None:
    routes = state_changing_routes(client)
    paths = {(r.method, r.path) for r in routes}
    assert ("POST", "/logout") in paths and ("POST", "/account") in paths
    assert ("POST", "/w/{workspace_id}/connections/{connection_id}/{action}") in paths
    assert ("POST", "/connect/meta/{grant_id}") in paths
    assert ("POST", "/api/v1/workspaces/{workspace_id}/metrics/ingest") in paths
    assert len(routes) >= 20


@pytest.mark.parametrize("csrf", ["missing", "wrong", "non_ascii"])
def test_cookie_without_the_csrf_token_changes_nothing_anywhere(
    client: TestClient, db: Session, runtime: Runtime, csrf: str
) -> None:
    owner = make_user(db)
    ws = make_workspace(db, owner=owner)
    conn = make_connection(db, ws.id)
    request_sync(db, settings=runtime.settings, connection=conn)
    r = client.post("/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert r.status_code == 200
    ids = {
        "workspace_id": ws.id,
        "connection_id": conn.id,
        "action": "disconnect",
    }
    forged = "forg\u00e9d" if csrf == "non_ascii" else "forged"  # a 4xx, never a 500
    sent = {} if csrf == "missing" else {"X-CSRF-Token": forged.encode("latin-1")}
    form = {} if csrf == "missing" else {"csrf_token": forged}
    before = snapshot(db, ws.id)
    timezone_before = owner.timezone
    failures: dict[str, int] = {}
    for route in state_changing_routes(client):
        path = route.path
        for name in ("workspace_id", "connection_id", "action"):
            path = path.replace("{" + name + "}", str(ids[name]))
        path = path.replace("{", "").replace("}", "")  # other ids: any value, never reached
        for other in ("key_id", "import_id", "record_id", "alert_id", "channel_id", "fetch_id"):
            path = path.replace(other, str(uuid.uuid4()))
        path = path.replace("grant_id", str(uuid.uuid4())).replace("pending_id", str(uuid.uuid4()))
        body = (
            {"data": {**form, "timezone": "Asia/Tokyo", "name": "x", "since": "2026-01-01"}}
            if route.web
            else {"json": {"name": "x", "records": [], "accounts": ["act_1"]}}
        )
        answer = client.request(
            route.method, path, headers={**sent, "Accept": "text/html"}, **body
        )  # fmt: skip
        # Forbidden for a page or the API; the OAuth choice page answers its own error page.
        if answer.status_code not in (403,) and not (
            route.path.startswith("/connect/") and answer.status_code in (403, 404)
        ):
            failures[f"{route.method} {route.path}"] = answer.status_code
    assert not failures, f"state-changing routes that did not refuse a missing CSRF: {failures}"
    db.expire_all()
    assert snapshot(db, ws.id) == before
    assert owner.timezone == timezone_before
    assert client.get("/api/v1/auth/me").status_code == 200  # still signed in: no logout


def test_the_right_csrf_token_is_accepted(client: TestClient, db: Session) -> None:
    owner = make_user(db)
    r = client.post("/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
    token = r.json()["csrf_token"]
    saved = client.post(
        "/account", data={"timezone": "Asia/Tokyo", "csrf_token": token}, follow_redirects=False
    )
    assert saved.status_code == 303
    db.expire_all()
    assert owner.timezone == "Asia/Tokyo"


def test_repeated_failed_sign_ins_on_the_form_are_slowed(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    user = make_user(db)
    digest = email_digest(user.email, secret_key=runtime.secret_key)
    form = {"email": user.email, "password": "wrong", "csrf_token": login_form_token(client)}
    codes = [client.post("/login", data=form).status_code for _ in range(5)]
    assert codes == [401] * 5  # five free tries; the fifth locks the address for 1 s

    def counter() -> SignInFailure:
        db.expire_all()
        return db.scalars(select(SignInFailure).where(SignInFailure.email_digest == digest)).one()

    first = counter()
    assert first.failures == 5 and first.locked_until is not None
    assert first.locked_until - first.last_failed_at == timedelta(seconds=1)
    # Four more failures later (each after the lock before it ran out), the lock has doubled
    # each time: the tenth failure locks for 2**5 s, whatever the machine's speed.
    first.failures, first.locked_until = 9, None
    db.flush()
    assert client.post("/login", data=form).status_code == 401
    tenth = counter()
    assert tenth.failures == 10 and tenth.locked_until is not None
    assert tenth.locked_until - tenth.last_failed_at == timedelta(seconds=32)
    # Even the right password is refused while locked.
    locked = client.post("/login", data={**form, "password": PASSWORD}, follow_redirects=False)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    assert "Too many failed sign-ins" in locked.text
    assert "metricx_session=" not in locked.headers.get("set-cookie", "")
