"""Error pages for browsers: 403, 404, 422 and 500 on web routes are pages in the app's layout
with the right status and a way back; the API keeps its JSON envelope."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.app import create_app
from metricx.runtime import Runtime
from tests.factories import make_user, make_workspace
from tests.web.test_pages import add_connection, sign_in

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def way_back(page: str) -> tuple[str, str]:
    found = re.search(r'id="way-back" href="([^"]+)">([^<]+)<', page)
    assert found, page
    return found.group(1), found.group(2)


def assert_page(answer, status: int, heading: str) -> str:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert f'<h1 id="result">{heading}</h1>' in answer.text
    assert 'rel="stylesheet" href="/static/src/app.css' in answer.text  # the app's layout
    return str(answer.text)


def test_a_bad_address_is_a_page_leading_to_the_dashboard(client: TestClient, db: Session) -> None:
    user = make_user(db)
    ws = make_workspace(db, owner=user)
    sign_in(client, user.email)
    page = assert_page(client.get("/w/not-a-uuid", headers=HTML), 422, "That value is not valid")
    assert "workspace_id" in page
    assert way_back(page) == (f"/w/{ws.id}", "Back to the dashboard")
    assert 'class="topbar"' in page  # the app's layout, signed in

    page = assert_page(client.get("/no/such/page", headers=HTML), 404, "Not found")
    assert way_back(page) == (f"/w/{ws.id}", "Back to the dashboard")

    wrong_method = client.get(f"/w/{ws.id}/connections/{ws.id}/pause", headers=HTML)
    assert_page(wrong_method, 405, "Not allowed here")
    assert wrong_method.headers["allow"] == "POST"


def test_a_stranger_is_led_to_sign_in(client: TestClient) -> None:
    page = assert_page(client.get("/nope", headers=HTML), 404, "Not found")
    assert way_back(page) == ("/login", "Sign in")


def test_a_bad_form_value_and_an_expired_form_are_pages(client: TestClient, db: Session) -> None:
    user = make_user(db)
    ws = make_workspace(db, owner=user)
    conn = add_connection(db, ws)
    csrf = sign_in(client, user.email)
    bad_id = client.post(
        f"/w/{ws.id}/connections/not-a-uuid/pause", data={"csrf_token": csrf}, headers=HTML
    )
    page = assert_page(bad_id, 422, "That value is not valid")
    assert "connection_id" in page
    expired = client.post(
        f"/w/{ws.id}/connections/{conn.id}/pause", data={"csrf_token": "stale"}, headers=HTML
    )
    page = assert_page(expired, 403, "Not allowed")
    assert "This form has expired; reload the page and try again." in page
    assert way_back(page) == (f"/w/{ws.id}", "Back to the dashboard")


def test_the_api_keeps_its_json_envelope(client: TestClient) -> None:
    for path in ("/api/v1/nope", "/api/v1/workspaces/not-a-uuid"):
        answer = client.get(path, headers=HTML)
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["code"] in ("not_found", "unauthorized", "validation_error")
    assert client.get("/nope").json()["error"]["code"] == "not_found"  # not asking for HTML


def test_an_unexpected_error_is_a_page_for_a_browser(runtime: Runtime) -> None:
    app = create_app(runtime)

    @app.get("/w/{workspace_id}/boom")
    def boom(workspace_id: str) -> None:
        raise RuntimeError("a bug with a secret")

    with TestClient(app, raise_server_exceptions=False) as http:
        page = http.get("/w/x/boom", headers={**HTML, "X-Request-ID": "trace-page"})
        api = http.get("/w/x/boom")
    text = assert_page(page, 500, "Something went wrong")
    assert "a bug with a secret" not in text and "trace-page" in text
    assert way_back(text) == ("/", "Back to metricx")
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert api.status_code == 500 and api.json()["error"]["code"] == "internal_error"
