"""POST .../sync queues a fetch and its job in one transaction; fetches and imports are
listed per connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from metricx.app import create_app
from metricx.auth.service import create_api_key
from metricx.db import unit_of_work
from metricx.runtime import Runtime
from metricx.sync import runner
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account, sandbox_clients


@pytest.fixture
def http(sync_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(sync_runtime), base_url="https://testserver") as c:
        yield c


def test_post_sync_queues_fetch_and_job_together_and_lists_the_audit(
    http: TestClient, sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 2)
    with unit_of_work(sync_runtime.sessions) as session:
        key = create_api_key(session, workspace_id=connection.workspace_id).key
    headers = {"Authorization": f"Bearer {key}"}
    base = f"/api/v1/workspaces/{connection.workspace_id}/connections/{connection.id}"
    answer = http.post(base + "/sync", headers=headers, json={"since": "2026-11-20"})
    assert answer.status_code == 202, answer.text
    fetch = answer.json()
    assert fetch["status"] == "queued" and fetch["kind"] == "backfill"
    with sync_runtime.engine.connect() as db:
        jobs = db.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'run_metrics_sync'"
                " AND args->>'fetch_id' = :f"
            ),
            {"f": fetch["id"]},
        ).scalar_one()
    assert jobs == 1
    bad = http.post(base + "/sync", headers=headers, json={"since": "2020-01-01"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"

    assert (
        runner.run_fetch(
            sync_runtime,
            fetch_id=__import__("uuid").UUID(fetch["id"]),
            client_factory=sandbox_clients(sync_sandbox),
        )
        == "succeeded"
    )
    listed = http.get(base + "/fetches", headers=headers).json()
    mine = next(f for f in listed if f["id"] == fetch["id"])
    assert mine["status"] == "succeeded" and mine["rows"] > 0 and mine["calls"] > 0
    assert mine["window_start"] and mine["duration_ms"] is not None
    imports = http.get(base + "/imports", headers=headers, params={"fetch_id": fetch["id"]})
    assert imports.status_code == 200
    assert sum(i["inserted"] for i in imports.json()["imports"]) > 0
