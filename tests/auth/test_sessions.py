"""Signing in: passwords, cookies, CSRF, membership and throttling of failures."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.models import User
from tests.factories import PASSWORD, join, make_user, make_workspace


def login(client: TestClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_right_password_signs_in_with_a_safe_cookie(client: TestClient, db: Session) -> None:
    user = make_user(db)
    r = login(client, user.email.upper())  # e-mails are case-insensitive
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "metricx_session=" in cookie
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
    assert client.get("/api/v1/auth/me").json()["email"] == user.email
    assert user.password_hash.startswith("$argon2")


def test_wrong_password_is_refused(client: TestClient, db: Session) -> None:
    user = make_user(db)
    r = login(client, user.email, "not the password")
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "wrong e-mail or password"
    assert "set-cookie" not in r.headers
    assert client.get("/api/v1/auth/me").status_code == 401
    # An unknown e-mail gets the very same answer.
    assert login(client, "nobody@example.com").json() == r.json()


def test_repeated_failures_are_slowed(client: TestClient, db: Session) -> None:
    user = make_user(db)
    codes = [login(client, user.email, "wrong").status_code for _ in range(6)]
    assert codes[:5] == [401] * 5
    r = login(client, user.email)  # even the right password waits now
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1


def test_member_sees_workspace_outsider_gets_404(client: TestClient, db: Session) -> None:
    owner, outsider = make_user(db), make_user(db)
    ws = make_workspace(db, owner=owner)
    login(client, outsider.email)
    assert client.get(f"/api/v1/workspaces/{ws.id}").status_code == 404
    join(db, ws, outsider)
    r = client.get(f"/api/v1/workspaces/{ws.id}")
    assert r.status_code == 200 and r.json()["role"] == "member"


def test_state_change_by_cookie_needs_csrf_token(client: TestClient, db: Session) -> None:
    user: User = make_user(db)
    csrf = login(client, user.email).json()["csrf_token"]
    body = {"name": "Acme", "timezone": "Asia/Kolkata"}
    refused = client.post("/api/v1/workspaces", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    r = client.post("/api/v1/workspaces", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201 and r.json()["role"] == "owner"


def test_logout_ends_the_session(client: TestClient, db: Session) -> None:
    user = make_user(db)
    csrf = login(client, user.email).json()["csrf_token"]
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
