"""The whole Meta OAuth flow in Chromium: sign in, the sandbox's login dialog, back to the
account choice, two accounts connected."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select

from metricx.app import create_app
from metricx.migrate import upgrade
from metricx.models import Connection, Token
from metricx.runtime import build_runtime
from metricx.sandbox.config import SandboxConfig
from metricx.sandbox.server import free_port
from tests.factories import PASSWORD, make_user, make_workspace
from tests.meta_sandbox import MetaSandbox, sandbox_fixture

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(SandboxConfig(seed=5, accounts=3, campaigns=2, days=5))


@pytest.fixture
def server(box: MetaSandbox, fresh_database, tmp_path: Path) -> Iterator[tuple[str, object]]:  # type: ignore[no-untyped-def]
    url = fresh_database("oauth_e2e")
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = box.settings(tmp_path, url, base_url=base, secure_cookies=False)
    runtime = build_runtime(settings, url)
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield base, runtime
    srv.should_exit = True
    thread.join(timeout=10)
    runtime.dispose()


def test_connect_two_accounts_through_the_meta_dialog(
    page: Page, box: MetaSandbox, server: tuple[str, object]
) -> None:
    base, runtime = server
    with runtime.sessions.begin() as s:  # type: ignore[attr-defined]
        user = make_user(s)
        ws_id = make_workspace(s, owner=user).id
        email = user.email
    login = page.request.post(
        f"{base}/api/v1/auth/login", data={"email": email, "password": PASSWORD}
    )
    assert login.ok, login.text()

    page.goto(f"{base}/api/v1/auth/meta/authorize?workspace_id={ws_id}")
    assert page.url.startswith(box.url)  # Meta's (the sandbox's) login dialog
    page.click("#grant")
    page.wait_for_url(f"{base}/connect/meta/*")
    boxes = page.locator("input[name=account]")
    assert boxes.count() == 3
    wanted = box.accounts()[:2]
    for i in range(3):
        value = boxes.nth(i).get_attribute("value")
        boxes.nth(i).set_checked(value in wanted)
    page.click("#connect")
    assert page.locator("#result").inner_text() == "Connected"
    for account in wanted:
        assert account in page.content()

    with runtime.sessions() as s:  # type: ignore[attr-defined]
        rows = s.scalars(select(Connection).where(Connection.workspace_id == ws_id)).all()
        assert sorted(r.external_account_id for r in rows) == sorted(wanted)
        assert all(r.status.value == "active" and r.token_id for r in rows)
        token = s.scalars(select(Token)).one()
        assert "ads_read" in token.scopes

    # Cancelling the dialog leads back to Connections, which says so; nothing stored.
    page.goto(f"{base}/api/v1/auth/meta/authorize?workspace_id={ws_id}")
    page.click("#cancel")
    page.wait_for_url(re.compile(re.escape(f"{base}/w/{ws_id}/connections?connect=cancelled")))
    expect(page.locator("#connect-notice")).to_contain_text("nothing was connected")
    with runtime.sessions() as s:  # type: ignore[attr-defined]
        assert len(s.scalars(select(Token)).all()) == 1
