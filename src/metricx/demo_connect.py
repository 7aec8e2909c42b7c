"""The demo's sandbox account, connected through the real OAuth flow over HTTP, exactly as a
browser would: sign in, authorize, grant in the (sandbox's) Meta dialog, the callback, the
account choice; then each connection's first sync is requested."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from urllib.parse import urljoin

import httpx


@dataclass
class DemoConnection:
    id: str
    name: str
    account: str


def _hidden_fields(html: str) -> dict[str, str]:
    fields = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        fields[unescape(name)] = unescape(value)
    return fields


def connect_sandbox_accounts(
    base_url: str, *, email: str, password: str, workspace_id: str, accounts: int = 2
) -> list[DemoConnection]:
    """Connect the first ``accounts`` ad accounts the sandbox's Meta user can reach, then
    queue their first syncs. Returns the connections."""
    with httpx.Client(base_url=base_url, timeout=60, follow_redirects=False) as app:
        login = app.post("/api/v1/auth/login", json={"email": email, "password": password})
        login.raise_for_status()
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        start = app.get("/api/v1/auth/meta/authorize", params={"workspace_id": workspace_id})
        dialog_url = start.headers["location"]
        with httpx.Client(timeout=60, follow_redirects=False) as meta:
            dialog = meta.get(dialog_url)
            dialog.raise_for_status()
            form = _hidden_fields(dialog.text)
            scopes = form["requested"].split()
            action = re.search(r'<form[^>]*action="([^"]+)"', dialog.text)
            target = urljoin(dialog_url, unescape(action.group(1)) if action else "")
            decision = meta.post(target, data={**form, "decision": "grant", "granted": scopes})
        callback = decision.headers["location"].split("#", 1)[0]
        pending = app.get(callback, headers={"accept": "application/json"})
        pending.raise_for_status()
        choice = pending.json()
        chosen = [a["id"] for a in choice["accounts"]][:accounts]
        made = app.post(
            f"/api/v1/auth/meta/pending/{choice['pending_id']}",
            json={"accounts": chosen},
            headers=csrf,
        )
        made.raise_for_status()
        rows = [
            DemoConnection(c["id"], c["name"], c["external_account_id"])
            for c in made.json()["connections"]
        ]
        for row in rows:
            request_first_sync(app, csrf, workspace_id, row.id)
        return rows


def request_first_sync(
    app: httpx.Client, csrf: dict[str, str], workspace_id: str, connection_id: str
) -> None:
    answer = app.post(
        f"/api/v1/workspaces/{workspace_id}/connections/{connection_id}/sync", headers=csrf
    )
    answer.raise_for_status()
