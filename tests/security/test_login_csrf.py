"""Login CSRF: the sign-in form only signs in with the token of the cookie the sign-in page
set in this browser. Another site's form post (no token, a made-up one, one read from
another browser, a forged or stale cookie) is refused, signs nobody in and counts nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metricx.auth.service import FREE_LOGIN_FAILURES, email_digest
from metricx.models import SignInFailure, User, UserSession
from metricx.runtime import Runtime
from metricx.web.login_csrf import (
    LOGIN_FORM_SALT,
    LOGIN_FORM_TTL_SECONDS,
    login_form_cookie_name,
    login_form_serializer,
)
from tests.factories import PASSWORD, make_user
from tests.web.login_form import login_form_token

HTML = {"Accept": "text/html"}


@pytest.fixture
def other_browser(client: TestClient) -> Iterator[TestClient]:
    """A second browser on the same app (and the same test transaction)."""
    with TestClient(
        client.app, base_url="https://testserver", raise_server_exceptions=False
    ) as other:
        yield other


def sessions_of(db: Session, user: User) -> int:
    return db.scalar(select(func.count()).where(UserSession.user_id == user.id)) or 0


def assert_refused(answer: httpx.Response, db: Session, user: User, runtime: Runtime) -> None:
    assert answer.status_code == 403, answer.text
    assert "metricx_session=" not in answer.headers.get("set-cookie", "")
    assert sessions_of(db, user) == 0
    # A refused form is not a guess at the password either.
    digest = email_digest(user.email, secret_key=runtime.secret_key)
    assert db.get(SignInFailure, digest) is None


def post_form(
    client: TestClient, user: User, token: str | None, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    data = {"email": user.email, "password": password}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/login", data=data, headers=headers, follow_redirects=False)


def set_form_cookie(client: TestClient, runtime: Runtime, value: str) -> None:
    client.cookies.clear()
    # http.cookiejar files a dotless host under ".local": the domain a server cookie gets.
    client.cookies.set(login_form_cookie_name(runtime), value, domain="testserver.local", path="/")


def test_the_right_token_signs_in_and_the_form_cookie_is_dropped(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    user = make_user(db)
    page = client.get("/login")
    cookies = page.headers.get_list("set-cookie")
    form_cookie = next(c for c in cookies if c.startswith(login_form_cookie_name(runtime) + "="))
    flags = {part.strip().lower() for part in form_cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags
    assert login_form_cookie_name(runtime).startswith("__Host-")  # Secure: no subdomain may set it

    answer = post_form(client, user, login_form_token(client))
    assert answer.status_code == 303, answer.text
    assert sessions_of(db, user) == 1
    assert client.get("/api/v1/auth/me").json()["email"] == user.email
    assert login_form_cookie_name(runtime) not in client.cookies


def test_a_post_without_the_token_signs_nobody_in(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    user = make_user(db)
    login_form_token(client)  # the browser has a genuine cookie; the other site's form no token
    answer = post_form(client, user, None, **HTML)
    assert_refused(answer, db, user, runtime)
    assert "This sign-in form has expired; reload the page and try again." in answer.text
    assert client.get("/api/v1/auth/me").status_code == 401
    # Nor can another site lock the account out with forged posts of wrong passwords.
    for _ in range(FREE_LOGIN_FAILURES + 1):
        assert_refused(post_form(client, user, None, "wrong", **HTML), db, user, runtime)
    # The refusal page is a fresh form that works.
    assert 'name="csrf_token"' in answer.text
    assert post_form(client, user, login_form_token(client)).status_code == 303


def test_a_made_up_token_is_refused_with_csrf_failed(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    user = make_user(db)
    login_form_token(client)
    answer = post_form(client, user, "made-up-token", Accept="application/json")
    assert_refused(answer, db, user, runtime)
    assert answer.json()["error"]["code"] == "csrf_failed"


def test_a_token_from_another_browser_is_refused(
    client: TestClient, other_browser: TestClient, db: Session, runtime: Runtime
) -> None:
    user = make_user(db)
    attackers_token = login_form_token(other_browser)  # the attacker's own genuine pair
    # The victim never opened the sign-in page: no cookie at all.
    assert_refused(post_form(client, user, attackers_token, **HTML), db, user, runtime)
    # The victim has a cookie of their own: it does not match the attacker's token.
    victims_token = login_form_token(client)
    assert victims_token != attackers_token
    assert_refused(post_form(client, user, attackers_token, **HTML), db, user, runtime)
    assert post_form(other_browser, user, attackers_token).status_code == 303  # it was genuine


def test_a_cookie_signed_with_another_key_is_refused(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    user = make_user(db)
    forged = login_form_serializer("not the app's secret").dumps("chosen-nonce")
    set_form_cookie(client, runtime, forged)
    assert_refused(post_form(client, user, "chosen-nonce", **HTML), db, user, runtime)
    set_form_cookie(client, runtime, "chosen-nonce")  # an unsigned cookie
    assert_refused(post_form(client, user, "chosen-nonce", **HTML), db, user, runtime)
    # The same nonce under the app's key is accepted: the signature is what was refused.
    set_form_cookie(
        client, runtime, login_form_serializer(runtime.secret_key).dumps("chosen-nonce")
    )
    assert post_form(client, user, "chosen-nonce").status_code == 303


def test_a_stale_form_is_refused(client: TestClient, db: Session, runtime: Runtime) -> None:
    class IssuedLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - LOGIN_FORM_TTL_SECONDS - 60

    stale = URLSafeTimedSerializer(runtime.secret_key, salt=LOGIN_FORM_SALT, signer=IssuedLongAgo)
    user = make_user(db)
    set_form_cookie(client, runtime, stale.dumps("old-nonce"))
    assert_refused(post_form(client, user, "old-nonce", **HTML), db, user, runtime)
    fresh = login_form_serializer(runtime.secret_key).dumps("old-nonce")
    set_form_cookie(client, runtime, fresh)  # the age is what was refused
    assert post_form(client, user, "old-nonce").status_code == 303


def test_two_open_sign_in_tabs_both_work(client: TestClient, db: Session) -> None:
    user = make_user(db)
    first_tab, second_tab = login_form_token(client), login_form_token(client)
    assert first_tab == second_tab  # the second page keeps the browser's nonce
    assert post_form(client, user, first_tab).status_code == 303


def test_a_huge_password_is_refused_unhashed_and_uncounted(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    user = make_user(db)
    client.get("/login")
    answer = post_form(client, user, login_form_token(client), password="x" * 100_000)
    assert answer.status_code == 400 and "too long" in answer.text
    assert sessions_of(db, user) == 0
    assert db.get(SignInFailure, email_digest(user.email, secret_key=runtime.secret_key)) is None


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_the_json_sign_in_refuses_bodies_another_site_could_send(
    client: TestClient, db: Session, content_type: str | None
) -> None:
    user = make_user(db)
    body = json.dumps({"email": user.email, "password": PASSWORD})
    headers = {"content-type": content_type} if content_type else {}
    answer = client.post("/api/v1/auth/login", content=body, headers=headers)
    assert answer.status_code == 415, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"
    assert sessions_of(db, user) == 0
    assert client.post("/api/v1/auth/login", json=json.loads(body)).status_code == 200
