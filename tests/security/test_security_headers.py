"""Security headers on every answer: a Content-Security-Policy the pages work under (their
scripts and styles from /static only: no inline script, style or event handler anywhere in the
templates), no framing, no MIME sniffing, same-origin referrers, nothing with user data kept
in a cache, HSTS when served over https; and the session cookie's __Host- prefix there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import metricx
from metricx.app import create_app
from metricx.config import Settings
from metricx.runtime import Runtime, build_runtime
from tests.factories import PASSWORD, make_user, make_workspace
from tests.security.test_cookies_csrf import cookie_flags
from tests.web.login_form import post_login_form

SRC = Path(metricx.__file__).parent
TEMPLATES = [*SRC.glob("web/templates/*.html"), *SRC.glob("connections/templates/*.html")]


def directives(answer_csp: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for part in answer_csp.split(";"):
        name, *values = part.split()
        out[name] = set(values)
    return out


def assert_common(headers: httpx.Headers) -> None:
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin")
    assert directives(headers["content-security-policy"])["frame-ancestors"] == {"'none'"}


def signed_in(client: TestClient, db: Session) -> str:
    user = make_user(db)
    ws = make_workspace(db, owner=user)
    answer = post_login_form(client, user.email, PASSWORD, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(ws.id)


@pytest.mark.parametrize(
    "page", ["/w/{ws}", "/w/{ws}/connections", "/w/{ws}/health", "/account", "/welcome"]
)
def test_signed_in_pages_get_a_strict_policy_and_are_not_cached(
    client: TestClient, db: Session, page: str
) -> None:
    ws = signed_in(client, db)
    answer = client.get(page.format(ws=ws), headers={"Accept": "text/html"})
    assert answer.status_code == 200, answer.text
    assert_common(answer.headers)
    csp = directives(answer.headers["content-security-policy"])
    assert csp["script-src"] == {"'self'"} and csp["style-src"] == {"'self'"}
    assert csp["object-src"] == {"'none'"} and csp["base-uri"] == {"'none'"}
    assert csp["form-action"] == {"'self'"}
    assert "no-store" in answer.headers["cache-control"]
    assert "strict-transport-security" not in answer.headers  # the base URL is http here


def test_the_sign_in_page_and_an_error_page_get_the_same_headers(client: TestClient) -> None:
    for answer in (
        client.get("/login"),
        client.get("/w/00000000-0000-0000-0000-000000000000", headers={"Accept": "text/html"}),
    ):
        assert_common(answer.headers)
        assert "'unsafe-inline'" not in answer.headers["content-security-policy"]
        assert "no-store" in answer.headers["cache-control"]


def test_api_answers_allow_nothing_and_are_not_cached(client: TestClient, db: Session) -> None:
    ws = signed_in(client, db)
    for path in ("/api/v1/auth/me", f"/api/v1/workspaces/{ws}", "/api/v1/nope", "/healthz"):
        answer = client.get(path)
        assert_common(answer.headers)
        assert directives(answer.headers["content-security-policy"])["default-src"] == {"'none'"}
        assert answer.headers["cache-control"] == "no-store", path


def test_static_files_stay_cacheable(client: TestClient) -> None:
    answer = client.get("/static/src/app.js")
    assert answer.status_code == 200
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in answer.headers.get("cache-control", "")


@pytest.fixture
def https_runtime(runtime: Runtime) -> Runtime:
    settings: Settings = runtime.settings.model_copy(update={"base_url": "https://metricx.example"})
    return build_runtime(settings, engine=runtime.engine)


@pytest.fixture
def https_client(https_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(https_runtime), base_url="https://testserver") as c:
        yield c


def test_hsts_when_the_base_url_is_https(https_client: TestClient) -> None:
    for path in ("/login", "/healthz", "/static/src/app.css"):
        hsts = https_client.get(path).headers["strict-transport-security"]
        assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 180 * 86400  # type: ignore[union-attr]


def test_the_session_cookie_is_host_prefixed_over_https(client: TestClient, db: Session) -> None:
    user = make_user(db)
    answer = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    [cookie] = [c for c in answer.headers.get_list("set-cookie") if "metricx_session=" in c]
    assert cookie.startswith("__Host-metricx_session=")
    flags = cookie_flags(cookie)
    assert {"secure", "path=/", "httponly"} <= flags
    assert not any(f.startswith("domain=") for f in flags)
    # The browser sends it back under that name, and that is the session.
    assert client.get("/api/v1/auth/me").json()["email"] == user.email
    # A plain-named cookie (planted by a sibling subdomain, say) is no session.
    token = client.cookies.get("__Host-metricx_session")
    client.cookies.clear()
    planted = {"Cookie": f"metricx_session={token}"}
    assert client.get("/api/v1/auth/me", headers=planted).status_code == 401
    # Signing out clears it under the same name.
    client.cookies.set("__Host-metricx_session", token or "")
    csrf = answer.json()["csrf_token"]
    out = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    [cleared] = out.headers.get_list("set-cookie")
    assert cleared.startswith("__Host-metricx_session=") and "secure" in cookie_flags(cleared)


def test_plain_http_keeps_a_plain_session_cookie(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    runtime.settings.secure_cookies = False  # the demo on 127.0.0.1
    user = make_user(db)
    answer = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert answer.headers["set-cookie"].startswith("metricx_session=")
    assert client.get("/api/v1/auth/me").json()["email"] == user.email


INLINE = [
    (
        re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
        "inline script",
    ),
    (re.compile(r"<style\b", re.I), "style element"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"\bhx-on[:-]|\bhx-vals\s*=\s*['\"]\s*js:", re.I), "htmx code"),
]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_templates_have_no_inline_code_or_style(template: Path) -> None:
    text = template.read_text()
    found = [what for pattern, what in INLINE if pattern.search(text)]
    assert not found, f"{template.name}: {found} (blocked by the Content-Security-Policy)"


def test_the_script_adds_no_inline_style() -> None:
    script = (SRC / "web" / "static" / "src" / "app.js").read_text()
    assert not re.search(r"style=|setAttribute\(\s*['\"]style|<style", script)


def test_an_unexpected_error_still_gets_the_headers_and_its_request_id(
    https_runtime: Runtime,
) -> None:
    """A 500 is answered outside every middleware (Starlette's outermost layer): its headers
    are added by the handler itself."""
    app = create_app(https_runtime)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as http:
        answer = http.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "a bug" not in answer.text
    assert_common(answer.headers)
    assert directives(answer.headers["content-security-policy"])["default-src"] == {"'none'"}
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert answer.headers["x-request-id"] == "trace-500"
