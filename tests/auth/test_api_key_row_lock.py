"""Marking an API key used never makes a request wait: under write load, an ingest that had
marked its key held the key's row until it committed (seconds), and every question with the
same key that fell due to mark it waited for that ingest (4.7 s in bench/load.py)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from metricx.app import create_app
from metricx.migrate import upgrade
from metricx.runtime import build_runtime
from tests.conftest import make_settings
from tests.factories import make_keyed_workspace


def test_a_question_does_not_wait_for_a_transaction_holding_its_keys_row(
    tmp_path: Path, fresh_database: Callable[[str], str]
) -> None:
    runtime = build_runtime(make_settings(tmp_path, fresh_database("key_row_lock")))
    upgrade(runtime.engine)
    with runtime.sessions.begin() as s:
        keyed = make_keyed_workspace(s)
        ws_id, headers = keyed.workspace.id, keyed.headers
    holder = runtime.engine.connect()
    held = holder.begin()
    # Another request's transaction holds the key's row, as an ingest does once it has marked
    # the key used; the key was never marked (committed), so this question is due to mark it.
    holder.execute(
        text("UPDATE api_keys SET last_used_at = now() WHERE workspace_id = :ws"), {"ws": ws_id}
    )
    with (
        pytest.raises(OperationalError, match="could not obtain lock"),
        runtime.engine.begin() as c,
    ):
        c.execute(
            text("SELECT 1 FROM api_keys WHERE workspace_id = :ws FOR UPDATE NOWAIT"), {"ws": ws_id}
        )
    try:
        with (
            TestClient(create_app(runtime), base_url="https://testserver") as client,
            ThreadPoolExecutor(max_workers=1) as pool,
        ):
            asked = pool.submit(
                client.get, f"/api/v1/workspaces/{ws_id}/metrics/latest", headers=headers
            )
            try:
                answer = asked.result(timeout=60)
            finally:
                held.rollback()  # let a waiting question go (before the fix it waited for this)
            assert answer.status_code == 200, answer.text
            # The row free again, the next question marks the key used.
            client.get(f"/api/v1/workspaces/{ws_id}/metrics/latest", headers=headers)
        with runtime.engine.connect() as c:
            marked = c.execute(
                text("SELECT last_used_at FROM api_keys WHERE workspace_id = :ws"), {"ws": ws_id}
            ).scalar()
        assert marked is not None
    finally:
        holder.close()
        runtime.engine.dispose()
