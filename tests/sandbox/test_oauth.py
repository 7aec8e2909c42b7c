"""The login dialog, code exchange, long-lived exchange, debug_token and CLI tokens."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import httpx
from typer.testing import CliRunner

from metricx.sandbox.cli import sandbox_app
from tests.sandbox.conftest import Sandbox

REDIRECT = "http://localhost:9/auth/meta/callback"


def _dialog(sandbox: Sandbox, decision: str) -> dict[str, list[str]]:
    page = sandbox.http.get(
        "/v25.0/dialog/oauth",
        params={
            "client_id": sandbox.config.app_id,
            "redirect_uri": REDIRECT,
            "state": "xyz",
            "scope": "ads_read,business_management",
            "response_type": "code",
        },
    )
    assert page.status_code == 200 and 'id="cancel"' in page.text and 'id="grant"' in page.text
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    resp = sandbox.http.post(
        "/v25.0/dialog/oauth",
        data={**form, "decision": decision, "granted": ["ads_read", "business_management"]},
    )
    assert resp.status_code == 302
    location = resp.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def _exchange(sandbox: Sandbox, **params: str) -> httpx.Response:
    return sandbox.http.get(
        "/v25.0/oauth/access_token",
        params={
            "client_id": sandbox.config.app_id,
            "client_secret": sandbox.config.app_secret,
            **params,
        },
    )


def test_cancel_redirects_with_access_denied(sandbox: Sandbox) -> None:
    q = _dialog(sandbox, "cancel")
    assert q["error"] == ["access_denied"] and q["error_reason"] == ["user_denied"]
    assert q["error_description"] and q["state"] == ["xyz"]


def test_code_exchange_long_lived_exchange_and_debug_token(sandbox: Sandbox) -> None:
    q = _dialog(sandbox, "grant")
    assert q["state"] == ["xyz"]
    code = q["code"][0]
    wrong = _exchange(sandbox, code=code, redirect_uri=REDIRECT + "x")
    assert wrong.json()["error"]["error_subcode"] == 36008
    short = _exchange(sandbox, code=code, redirect_uri=REDIRECT).json()
    assert short["token_type"] == "bearer" and short["expires_in"] == 7200
    again = _exchange(sandbox, code=code, redirect_uri=REDIRECT)
    assert again.status_code == 400 and again.json()["error"]["error_subcode"] == 36009
    long = _exchange(
        sandbox, grant_type="fb_exchange_token", fb_exchange_token=short["access_token"]
    ).json()
    assert long["expires_in"] == 5183944
    app_token = f"{sandbox.config.app_id}|{sandbox.config.app_secret}"
    info = sandbox.http.get(
        "/debug_token", params={"input_token": long["access_token"], "access_token": app_token}
    ).json()["data"]
    assert info["is_valid"] and info["type"] == "USER"
    assert set(info["scopes"]) == {"public_profile", "ads_read", "business_management"}
    assert info["expires_at"] - info["issued_at"] == 5183944
    me = sandbox.http.get("/v25.0/me/adaccounts", params={"access_token": long["access_token"]})
    assert len(me.json()["data"]) == 4 and "x-app-usage" in me.headers
    # the short-lived token expires with the sandbox clock; it can no longer be exchanged
    sandbox.http.post("/_sandbox/clock/advance", json={"seconds": 7201})
    dead = _exchange(
        sandbox, grant_type="fb_exchange_token", fb_exchange_token=short["access_token"]
    ).json()["error"]
    assert (dead["code"], dead["error_subcode"]) == (190, 463)
    info = sandbox.http.get(
        "/v25.0/debug_token",
        params={"input_token": short["access_token"], "access_token": app_token},
    ).json()["data"]
    assert info["is_valid"] is False and info["error"]["subcode"] == 463


def test_cli_token_works_without_server_and_against_it(sandbox: Sandbox) -> None:
    result = CliRunner().invoke(
        sandbox_app, ["token", "--seed", "7", "--json", "--clock", "2026-03-20T00:00:00Z"]
    )
    token = json.loads(result.output)["token"]
    resp = sandbox.http.get("/v25.0/me", params={"access_token": token})
    assert resp.status_code == 200 and resp.json()["id"]
    other_seed = CliRunner().invoke(sandbox_app, ["token", "--seed", "8"]).output.strip()
    err = sandbox.http.get("/v25.0/me", params={"access_token": other_seed}).json()["error"]
    assert (err["code"], err["error_subcode"]) == (190, 467)
