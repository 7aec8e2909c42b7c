"""Connections over HTTP: pasted tokens, the OAuth round trip (JSON side), pause, disconnect,
reconnect, entity sync requests; tokens at rest, rotation and the periodic check."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from metricx.alerts.service import open_alert
from metricx.connections.service import EXPIRY_ALERT, REAUTH_ALERT, check_tokens
from metricx.connections.tokens import reveal, rotate_all
from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.errors import MetaError
from metricx.kit.crypto import Cipher, Secret
from metricx.models import Connection, Token
from metricx.runtime import Runtime
from tests.factories import PASSWORD, make_keyed_workspace, make_user, make_workspace
from tests.meta_sandbox import MetaSandbox


def signed_in(api: TestClient, db: Session) -> tuple[dict[str, str], str]:
    user = make_user(db)
    ws = make_workspace(db, owner=user)
    resp = api.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"X-CSRF-Token": resp.json()["csrf_token"]}, str(ws.id)


def consent(api: TestClient, box: MetaSandbox, url: str, decision: str = "grant") -> str:
    """Authorize -> the sandbox dialog -> the callback URL Meta sends the browser back to."""
    dialog = api.get(url, follow_redirects=False)
    assert dialog.status_code == 302, dialog.text
    target = urlsplit(dialog.headers["location"])
    assert target.netloc == urlsplit(box.url).netloc and target.path == "/v25.0/dialog/oauth"
    q = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert q["scope"] == "ads_read,ads_management,read_insights"
    assert q["redirect_uri"] == "http://127.0.0.1:8000/api/v1/auth/meta/callback"
    form = {
        **{k: q[k] for k in ("client_id", "redirect_uri", "state")},
        "decision": decision,
        "granted": ["ads_read", "ads_management", "read_insights"],
        "requested": "ads_read ads_management read_insights",
    }
    back = httpx.post(f"{box.url}/v25.0/dialog/oauth", data=form)
    assert back.status_code == 302
    callback = urlsplit(back.headers["location"])
    return f"{callback.path}?{callback.query}"


def token_count(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(Token)) or 0)


def test_oauth_round_trip_connects_chosen_accounts_and_reconnect_keeps_the_row(
    api: TestClient, db: Session, meta_sandbox: MetaSandbox
) -> None:
    csrf, ws = signed_in(api, db)
    callback = consent(api, meta_sandbox, f"/api/v1/auth/meta/authorize?workspace_id={ws}")
    pending = api.get(callback)
    assert pending.status_code == 200, pending.text
    pid = pending.json()["pending_id"]
    listed = api.get(f"/api/v1/auth/meta/pending/{pid}").json()["accounts"]
    assert [a["id"] for a in listed] == meta_sandbox.accounts()
    assert {a["currency"] for a in listed} and all(a["timezone"] for a in listed)
    chosen = meta_sandbox.accounts()[:2]
    made = api.post(f"/api/v1/auth/meta/pending/{pid}", json={"accounts": chosen}, headers=csrf)
    assert made.status_code == 201, made.text
    conns = made.json()["connections"]
    assert [c["external_account_id"] for c in conns] == chosen
    assert all(c["status"] == "active" and c["has_token"] for c in conns)
    token = db.scalar(select(Token).order_by(Token.created_at.desc()))
    assert token is not None and "ads_read" in token.scopes and token.expires_at is not None

    # The replayed callback is refused, and stores nothing.
    before = token_count(db)
    replay = api.get(callback)
    assert replay.status_code == 400 and replay.json()["error"]["code"] == "oauth_bad_state"
    assert token_count(db) == before

    # Reconnect: the same connection row, a new token.
    cid = conns[0]["id"]
    api.post(f"/api/v1/workspaces/{ws}/connections/{cid}/pause", headers=csrf)
    start = api.post(f"/api/v1/workspaces/{ws}/connections/{cid}/reconnect", headers=csrf)
    url = urlsplit(start.json()["authorize_url"])
    # The reconnect URL is Meta's dialog itself: consent there directly.
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    grant = httpx.post(
        f"{meta_sandbox.url}/v25.0/dialog/oauth",
        data={
            **{k: q[k] for k in ("client_id", "redirect_uri", "state")},
            "decision": "grant",
            "granted": ["ads_read"],
            "requested": "ads_read",
        },
    )
    cb = urlsplit(grant.headers["location"])
    pid2 = api.get(f"{cb.path}?{cb.query}").json()["pending_id"]
    pend = api.get(f"/api/v1/auth/meta/pending/{pid2}").json()["accounts"]
    assert [a["id"] for a in pend if a["preselected"]] == [chosen[0]]
    again = api.post(
        f"/api/v1/auth/meta/pending/{pid2}", json={"accounts": [chosen[0]]}, headers=csrf
    ).json()["connections"]
    assert again[0]["id"] == cid and again[0]["status"] == "paused"  # settings kept
    row = db.get(Connection, again[0]["id"])
    assert row is not None and row.token_id != token.id


def test_denied_consent_and_forged_state_store_nothing(
    api: TestClient, db: Session, meta_sandbox: MetaSandbox
) -> None:
    _csrf, ws = signed_in(api, db)
    before = token_count(db)
    denied = consent(
        api, meta_sandbox, f"/api/v1/auth/meta/authorize?workspace_id={ws}", decision="cancel"
    )
    resp = api.get(denied, headers={"Accept": "text/html"})  # back to Connections, told why
    assert resp.status_code == 200 and "cancelled" in resp.text
    assert str(resp.url).endswith(f"/w/{ws}/connections?connect=cancelled")
    forged = api.get("/api/v1/auth/meta/callback?code=abc&state=forged")
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "oauth_bad_state"
    assert token_count(db) == before


def test_manual_token_connections_pause_disconnect_and_sync_request(
    api: TestClient, db: Session, meta_sandbox: MetaSandbox
) -> None:
    keyed = make_keyed_workspace(db)
    other = make_keyed_workspace(db)
    base = f"/api/v1/workspaces/{keyed.workspace.id}/connections"
    bad = api.post(base, json={"token": "EAAnotatoken"}, headers=keyed.headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "token_invalid"
    unknown = api.post(
        base, json={"token": meta_sandbox.token(), "accounts": ["act_1"]}, headers=keyed.headers
    )
    assert unknown.status_code == 422 and "cannot reach" in unknown.json()["error"]["message"]
    made = api.post(base, json={"token": meta_sandbox.token()}, headers=keyed.headers)
    assert made.status_code == 201, made.text
    conns = made.json()["connections"]
    assert len(conns) == len(meta_sandbox.accounts())

    # The same account in another workspace: a separate connection.
    theirs = api.post(
        f"/api/v1/workspaces/{other.workspace.id}/connections",
        json={"token": meta_sandbox.token(), "accounts": [conns[0]["external_account_id"]]},
        headers=other.headers,
    ).json()["connections"]
    assert theirs[0]["id"] != conns[0]["id"]
    assert api.get(f"{base}/{theirs[0]['id']}", headers=keyed.headers).status_code == 404

    cid = conns[0]["id"]
    assert api.post(f"{base}/{cid}/pause", headers=keyed.headers).json()["status"] == "paused"
    assert api.post(f"{base}/{cid}/resume", headers=keyed.headers).json()["status"] == "active"
    sync = api.post(f"{base}/{cid}/sync-entities", headers=keyed.headers)
    assert sync.status_code == 202 and sync.json()["status"] == "queued"
    job = db.execute(
        text(
            "SELECT task_name, args->>'fetch_id' FROM procrastinate_jobs"
            " WHERE args->>'fetch_id' = :f"
        ),
        {"f": sync.json()["id"]},
    ).one()
    assert job[0] == "sync_connection_entities"
    gone = api.post(f"{base}/{cid}/disconnect", headers=keyed.headers).json()
    assert gone["status"] == "disconnected" and not gone["has_token"]
    assert api.post(f"{base}/{cid}/sync-entities", headers=keyed.headers).status_code == 409
    listed = api.get(base, headers=keyed.headers).json()["connections"]
    assert cid in [c["id"] for c in listed]  # history kept


def test_tokens_are_encrypted_at_rest_and_rotation_keeps_them_working(
    api: TestClient, db: Session, meta_sandbox: MetaSandbox, meta_runtime: Runtime
) -> None:
    keyed = make_keyed_workspace(db)
    token = meta_sandbox.token()
    api.post(
        f"/api/v1/workspaces/{keyed.workspace.id}/connections",
        json={"token": token},
        headers=keyed.headers,
    )
    raw = db.execute(text("SELECT t::text FROM tokens t")).scalars().all()
    assert raw and not any(token in r or token.encode().hex() in r for r in raw)

    new_key = Cipher.generate_key()
    assert meta_runtime.settings.encryption_keys is not None
    both = Cipher.from_csv(f"{new_key},{meta_runtime.settings.encryption_keys.get_secret_value()}")
    assert rotate_all(db, both) >= 1
    only_new = Cipher.from_csv(new_key)
    for row in db.scalars(select(Token)):
        assert only_new.decrypt(row.access_token_enc).reveal()
    row = db.scalar(select(Token).where(Token.workspace_id == keyed.workspace.id))
    assert row is not None and reveal(only_new, row).reveal() == token


def test_token_check_alerts_on_expiry_and_marks_invalid_tokens(
    db: Session, meta_sandbox: MetaSandbox, meta_runtime: Runtime
) -> None:
    from metricx.connections.service import add_with_token

    ws = make_workspace(db)
    soon = meta_sandbox.token(ttl=3 * 86400)
    dead = meta_sandbox.token()
    kw = {"settings": meta_runtime.settings, "cipher": meta_runtime.cipher, "created_by": None}
    [a] = add_with_token(
        db, workspace_id=ws.id, access_token=soon, accounts=[meta_sandbox.accounts()[0]], **kw
    )  # type: ignore[arg-type]
    [b] = add_with_token(
        db, workspace_id=ws.id, access_token=dead, accounts=[meta_sandbox.accounts()[1]], **kw
    )  # type: ignore[arg-type]
    meta_sandbox.revoke(dead)
    summary = check_tokens(db, settings=meta_runtime.settings, cipher=meta_runtime.cipher)
    assert summary["expiring"] >= 1 and summary["invalid"] >= 1
    assert open_alert(db, workspace_id=ws.id, kind=EXPIRY_ALERT, key=str(a.token_id))
    assert a.status.value == "active"
    assert b.status.value == "needs_reauth"
    assert open_alert(db, workspace_id=ws.id, kind=REAUTH_ALERT, key=str(b.id))


class _AlwaysTransient(BaseHTTPRequestHandler):
    """A Graph API that answers every call with a transient error, and counts the calls."""

    calls = 0

    def _answer(self) -> None:
        type(self).calls += 1
        body = json.dumps(
            {
                "error": {
                    "message": "An unexpected error has occurred.",
                    "type": "OAuthException",
                    "code": 2,
                    "is_transient": True,
                }
            }
        ).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_a_request_waits_on_a_failing_meta_for_one_quick_retry_not_a_job_s_patience(
    api: TestClient, db: Session, meta_runtime: Runtime
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysTransient)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = meta_runtime.settings
    saved = settings.meta_graph_url, settings.meta_backoff_base_seconds
    settings.meta_graph_url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.meta_backoff_base_seconds = 0.01
    try:
        keyed = make_keyed_workspace(db)
        r = api.post(
            f"/api/v1/workspaces/{keyed.workspace.id}/connections",
            json={"token": "EAAsometoken"},
            headers=keyed.headers,
        )
        assert r.status_code == 502 and "error" in r.json(), r.text
        assert _AlwaysTransient.calls == 1 + settings.meta_interactive_max_retries
        _AlwaysTransient.calls = 0  # a background job, same settings: the patient retries
        with pytest.raises(MetaError):
            MetaAdsClient.from_settings(settings, Secret("EAAsometoken")).get_me()
        assert _AlwaysTransient.calls == 1 + settings.meta_max_retries > 2
    finally:
        settings.meta_graph_url, settings.meta_backoff_base_seconds = saved
        server.shutdown()
