"""Signing in through the page as a browser does: open the form, post it with its token."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient


def login_form_token(client: TestClient) -> str:
    """Open the sign-in page (which sets the form's cookie) and read the form's token."""
    page = client.get("/login")
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the sign-in form has no CSRF token"
    return found.group(1)


def post_login_form(
    client: TestClient, email: str, password: str, **kwargs: object
) -> httpx.Response:
    token = login_form_token(client)
    data = {"email": email, "password": password, "csrf_token": token}
    return client.post("/login", data=data, **kwargs)  # type: ignore[arg-type]
