"""Forms keep what was typed when they answer with an error."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_user
from tests.web.login_form import login_form_token
from tests.web.test_pages import sign_in


def value_of(page: str, field_id: str) -> str:
    start = page.index(f'id="{field_id}"')
    tag = page[page.rindex("<", 0, start) : page.index(">", start)]
    marker = 'value="'
    assert marker in tag, tag
    return html.unescape(tag.split(marker, 1)[1].split('"', 1)[0])


def test_welcome_keeps_the_name_and_zone_typed(client: TestClient, db: Session) -> None:
    user = make_user(db)
    csrf = sign_in(client, user.email)
    bad_zone = client.post(
        "/welcome",
        data={"csrf_token": csrf, "name": "Acme <EU> & Co", "timezone": "Europe/Berlyn"},
    )
    assert bad_zone.status_code == 422
    assert "Unknown time zone 'Europe/Berlyn'" in html.unescape(bad_zone.text)
    assert value_of(bad_zone.text, "ws-name") == "Acme <EU> & Co"
    assert value_of(bad_zone.text, "ws-tz") == "Europe/Berlyn"
    no_name = client.post(
        "/welcome", data={"csrf_token": csrf, "name": " ", "timezone": "Asia/Tokyo"}
    )
    assert no_name.status_code == 422 and "Give the workspace a name." in no_name.text
    assert value_of(no_name.text, "ws-tz") == "Asia/Tokyo"
    too_long = client.post(
        "/welcome", data={"csrf_token": csrf, "name": "x" * 201, "timezone": "UTC"}
    )
    assert too_long.status_code == 422 and value_of(too_long.text, "ws-name") == "x" * 201


def test_sign_in_keeps_the_email_on_every_error(client: TestClient, db: Session) -> None:
    user = make_user(db)
    token = login_form_token(client)
    wrong = client.post(
        "/login", data={"email": user.email, "password": "nope", "csrf_token": token}
    )
    assert wrong.status_code == 401 and value_of(wrong.text, "email") == user.email
    expired = client.post(
        "/login",
        data={"email": user.email, "password": "nope", "csrf_token": "stale"},
        headers={"accept": "text/html"},
    )
    assert expired.status_code == 403 and "has expired" in expired.text
    assert value_of(expired.text, "email") == user.email
    token = login_form_token(client)
    long = client.post(
        "/login", data={"email": user.email, "password": "p" * 1001, "csrf_token": token}
    )
    assert long.status_code == 400 and value_of(long.text, "email") == user.email
