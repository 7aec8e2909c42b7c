"""The web app's pages over HTTP: sign in, the workspace pages, actions and their guards."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.models import Connection, ConnectionStatus, Level, Provider, Workspace
from tests.factories import PASSWORD, join, make_keyed_workspace, make_user, make_workspace
from tests.metrics.test_query import entity, fact, ingest
from tests.web.login_form import post_login_form


def sign_in(client: TestClient, email: str) -> str:
    answer = post_login_form(client, email, PASSWORD, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = client.get("/account")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def add_connection(db: Session, ws: Workspace, name: str = "Shoes US") -> Connection:
    row = Connection(
        workspace_id=ws.id,
        provider=Provider.META,
        external_account_id="act_1001",
        name=name,
        currency="USD",
        timezone="America/Los_Angeles",
        status=ConnectionStatus.ACTIVE,
    )
    db.add(row)
    db.flush()
    return row


def test_pages_send_strangers_to_sign_in(client: TestClient) -> None:
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    answer = client.get(
        "/w/00000000-0000-0000-0000-000000000000/connections", follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/w/")


def test_wrong_password_is_said_plainly(client: TestClient, db: Session) -> None:
    user = make_user(db)
    answer = post_login_form(client, user.email, "nope")
    assert answer.status_code == 401
    assert "Wrong e-mail or password." in answer.text


def test_sign_in_opens_the_first_workspace_dashboard(client: TestClient, db: Session) -> None:
    user = make_user(db)
    ws = make_workspace(db, owner=user)
    sign_in(client, user.email)
    answer = client.get("/", follow_redirects=False)
    assert answer.headers["location"] == f"/w/{ws.id}"
    page = client.get(f"/w/{ws.id}")
    assert page.status_code == 200
    assert "Connect an ad account to see performance" in page.text
    assert 'id="workspace-switch"' in page.text


def test_a_workspace_fed_only_by_the_ingest_api_has_its_dashboard(
    client: TestClient, db: Session
) -> None:
    """No ad account connected, facts pushed through the ingest API: the dashboard shows them
    (not the "connect an account" card)."""
    ws = make_keyed_workspace(db)
    camp = entity(db, ws, Level.CAMPAIGN, name="Pushed campaign")
    ad = entity(db, ws, Level.AD, entity(db, ws, Level.ADSET, camp))
    yesterday = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    ingest(client, ws, [fact(ad, yesterday - timedelta(days=1), "day", spend="4.20")])
    user = make_user(db)
    join(db, ws.workspace, user)
    sign_in(client, user.email)
    page = client.get(f"/w/{ws.workspace.id}", params={"range": "7d"})
    assert page.status_code == 200
    assert "Connect an ad account to see performance" not in page.text
    assert f'<tr data-entity="{camp.id}">' in page.text and "Pushed campaign" in page.text


def test_foreign_workspace_is_not_found(client: TestClient, db: Session) -> None:
    user = make_user(db)
    make_workspace(db, owner=user)
    other = make_workspace(db, owner=make_user(db))
    sign_in(client, user.email)
    answer = client.get(f"/w/{other.id}", headers={"accept": "text/html"})
    assert answer.status_code == 404
    assert "Not found" in answer.text


def test_connections_page_lists_accounts_and_pauses_one(client: TestClient, db: Session) -> None:
    user = make_user(db)
    ws = make_workspace(db, owner=user)
    conn = add_connection(db, ws)
    csrf = sign_in(client, user.email)
    page = client.get(f"/w/{ws.id}/connections")
    assert "Shoes US" in page.text and "Connect Meta Ads" in page.text
    assert "Disconnected" in page.text  # no token yet
    refused = client.post(f"/w/{ws.id}/connections/{conn.id}/pause", data={"csrf_token": "x"})
    assert refused.status_code == 403
    answer = client.post(
        f"/w/{ws.id}/connections/{conn.id}/pause",
        data={"csrf_token": csrf},
        headers={"hx-request": "true"},
    )
    assert answer.status_code == 200
    assert "Shoes US is paused." in answer.text
    db.refresh(conn)
    assert conn.status is ConnectionStatus.PAUSED


def test_timezone_preference_is_saved(client: TestClient, db: Session) -> None:
    user = make_user(db)
    make_workspace(db, owner=user)
    csrf = sign_in(client, user.email)
    answer = client.post(
        "/account", data={"csrf_token": csrf, "timezone": "Europe/Berlin"}, follow_redirects=False
    )
    assert answer.status_code == 303
    db.refresh(user)
    assert user.timezone == "Europe/Berlin"
    bad = client.post("/account", data={"csrf_token": csrf, "timezone": "Mars/Olympus"})
    assert bad.status_code == 422


def test_health_page_renders_empty_state(client: TestClient, db: Session) -> None:
    user = make_user(db)
    ws = make_workspace(db, owner=user)
    sign_in(client, user.email)
    page = client.get(f"/w/{ws.id}/health")
    assert page.status_code == 200
    assert "Nothing needs your attention." in page.text


def test_sign_out_ends_the_session(client: TestClient, db: Session) -> None:
    user = make_user(db)
    make_workspace(db, owner=user)
    csrf = sign_in(client, user.email)
    answer = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.headers["location"] == "/login"
    assert client.get("/account", follow_redirects=False).status_code == 303
