"""The dashboard's freshness list over HTTP tells the truth about each connection: one that
needs reconnecting, is paused or failing shows its state and the action that fixes it (never
a green dot); "no delivery" (syncs succeed, no new hours) is not "Delayed"; the page says what
the ``/metrics/latest`` API says; relative times carry what the page's script ticks from."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.connections.service import token_invalid
from metricx.connections.tokens import store_token
from metricx.models import Connection, ConnectionStatus, Fetch, RunStatus, Workspace
from metricx.runtime import Runtime
from tests.alerts.helpers import connected_account, dashboard_freshness, hour_ago, ingest_hour
from tests.factories import join, make_user
from tests.web.test_pages import sign_in


def synced_without_delivery(db: Session, conn: Connection) -> None:
    finished = datetime.now(UTC) - timedelta(minutes=20)
    db.add(
        Fetch(
            workspace_id=conn.workspace_id,
            connection_id=conn.id,
            kind="sync",
            status=RunStatus.SUCCEEDED,
            window_start=finished - timedelta(days=2),
            window_end=finished + timedelta(hours=1),
            created_at=finished - timedelta(minutes=2),
            finished_at=finished,
        )
    )
    db.flush()


def item(html: str, conn: Connection) -> str:
    found = re.search(rf'<li class="fresh-item" data-connection="{conn.id}"(.*?)</li>', html, re.S)
    assert found, html
    return found.group(1)


@pytest.mark.parametrize(
    ("case", "state", "dot", "badge", "action"),
    [
        ("fresh", "fresh", "dot-ok", None, None),
        ("delayed", "delayed", "dot-warn", "Delayed", None),
        ("no_delivery", "no-delivery", "dot-idle", "No delivery", None),
        ("revoked_token", "reauth", "dot-bad", "Needs reconnecting", "Reconnect"),
        ("needs_reauth", "reauth", "dot-bad", "Needs reconnecting", "Reconnect"),
        ("paused", "paused", "dot-idle", "Paused", "Resume"),
        ("failing", "failing", "dot-bad", "Syncs failing", "Reconnect"),
    ],
)
def test_each_connection_state_shows_on_the_dashboard_as_the_api_says(
    client: TestClient,
    db: Session,
    runtime: Runtime,
    case: str,
    state: str,
    dot: str,
    badge: str | None,
    action: str | None,
) -> None:
    conn, account = connected_account(db)
    ws = conn.workspace_id
    # Fresh data in every case but "delayed" and "no delivery" (an old newest hour).
    ingest_hour(db, runtime.settings, account, hour_ago(10 if "del" in case else 1))
    if case == "no_delivery":
        synced_without_delivery(db, conn)
    if case == "revoked_token":
        token = store_token(
            db, runtime.cipher, workspace_id=ws, access_token="EAArevoked", details=None,
            created_by=None,
        )  # fmt: skip
        conn.token_id = token.id
        db.flush()
        token_invalid(db, token, "the user removed the app", revoked=True)
    status = {
        "needs_reauth": ConnectionStatus.NEEDS_REAUTH,
        "paused": ConnectionStatus.PAUSED,
        "failing": ConnectionStatus.ERROR,
    }.get(case)
    if status is not None:
        conn.status = status
        db.flush()
    user = make_user(db)
    join(db, db.get(Workspace, conn.workspace_id), user)
    sign_in(client, user.email)

    html = client.get(f"/w/{ws}").text
    shown = item(html, conn)
    assert f'data-state="{state}"' in shown and f'class="dot {dot}"' in shown
    assert ("Delayed" in shown) is (case == "delayed")  # no delivery is no delay
    if badge:
        assert badge in shown
    if action:
        link = re.search(r'<a class="btn[^"]*" href="([^"]+)">(\w+)</a>', shown)
        assert link and link.group(2) == action
        assert link.group(1) == f"/w/{ws}/connections#conn-{conn.id}"
    else:
        assert "<a " not in shown

    api = dashboard_freshness(
        client, db, conn.workspace_id
    )  # the page and the API read one definition
    assert api["attention"] == (state if state in ("reauth", "paused", "failing") else None)
    assert api["no_delivery"] is (case == "no_delivery")
    assert api["delayed"] is (case == "delayed")
    newest = re.search(r'<time datetime="([^"]+)" data-relative="hour-age">', shown)
    assert newest and newest.group(1) == api["newest_hour"]


def test_relative_times_carry_what_the_page_ticks_from(
    client: TestClient, db: Session, runtime: Runtime
) -> None:
    conn, account = connected_account(db)
    newest = hour_ago(2)
    ingest_hour(db, runtime.settings, account, newest)
    conn.last_success_at = datetime.now(UTC) - timedelta(minutes=5)
    db.flush()
    user = make_user(db)
    join(db, db.get(Workspace, conn.workspace_id), user)
    sign_in(client, user.email)
    html = client.get(f"/w/{conn.workspace_id}").text
    holder = re.search(r'id="freshness" data-now="([^"]+)" data-tick-seconds="(\d+)"', html)
    assert holder and datetime.fromisoformat(holder.group(1)).tzinfo is not None
    assert 0 < int(holder.group(2)) <= 60
    updated = re.search(r'<time datetime="([^"]+)" data-relative="ago"[^>]*>([^<]+)</time>', html)
    assert updated and updated.group(2) == "5 min ago"
    assert datetime.fromisoformat(updated.group(1)) == conn.last_success_at
    # The newest hour ended 1 h ago, or 2 h if an hour began since it was ingested: the page
    # counts from its own now, which it shows as data-now.
    age = datetime.fromisoformat(holder.group(1)) - (newest + timedelta(hours=1))
    hours = int(age.total_seconds() // 3600)
    assert re.search(rf'data-relative="hour-age">newest hour {hours} h \d+ min old</time>', html)
