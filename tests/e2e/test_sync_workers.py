# ruff: noqa: F811  (the sync fixtures are imported: pytest injects them by name)
"""Real worker processes: a worker SIGKILLed mid-backfill is resumed by another from the last
completed chunk (no gap, no duplicate); two workers never sync one connection at once."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from metricx.db import unit_of_work
from metricx.jobs.stalled import release_stalled_jobs
from metricx.models import Connection, Fetch, RunStatus
from metricx.runtime import Runtime
from metricx.sync import scheduler, service
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import (  # noqa: F401  (fixtures)
    connect_account,
    sync_database,
    sync_engine,
    sync_jobs,
    sync_runtime,
    sync_sandbox,
    sync_settings,
)
from tests.sync.truth import assert_matches_truth

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent / "metricx"


@pytest.fixture
def start_worker(
    sync_runtime: Runtime, tmp_path: Path
) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    s = sync_runtime.settings
    assert s.encryption_keys and s.secret_key and s.meta_app_secret
    env = {
        **os.environ,
        "METRICX_DATABASE_URL": sync_runtime.database_url,
        "METRICX_ENCRYPTION_KEYS": s.encryption_keys.get_secret_value(),
        "METRICX_SECRET_KEY": s.secret_key.get_secret_value(),
        "METRICX_META_APP_ID": s.meta_app_id or "",
        "METRICX_META_APP_SECRET": s.meta_app_secret.get_secret_value(),
        "METRICX_META_GRAPH_URL": s.meta_graph_url,
        "METRICX_DATA_DIR": str(tmp_path / "worker"),
        "METRICX_SYNC_CHUNK_DAYS_HOURLY": "1",
        "METRICX_SYNC_LOCK_RETRY_SECONDS": "0.5",
        "METRICX_LOG_LEVEL": "WARNING",
    }
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [str(BIN), "worker", "--concurrency", "2", "--name", name],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"{name}.log", "wb"),  # noqa: SIM115
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def load(runtime: Runtime, fetch_id: object) -> Fetch:
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Fetch, fetch_id)
        assert row is not None
        session.expunge(row)
        return row


def wait_for(check: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def backfill(runtime: Runtime, box: MetaSandbox, connection: Connection, days: int) -> Fetch:
    now = datetime.fromisoformat(box.http.get("/_sandbox/clock").json()["now"])
    today = service.local_today(connection, now)
    runtime.settings.sync_chunk_days_hourly = 1
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        fetch = service.request_sync(
            session,
            settings=runtime.settings,
            connection=row,
            since=today - timedelta(days=days - 1),
            until=today,
            now=now,
        )
        session.expunge(fetch)
        return fetch


def jobs_now(runtime: Runtime, fetch_id: object) -> list[str]:
    with unit_of_work(runtime.sessions) as session:
        return sync_jobs(session, fetch_id)


def done_chunks(fetch: Fetch) -> int:
    return sum(1 for c in (fetch.checkpoint or {}).get("chunks", []) if c["status"] == "done")


def test_killed_worker_resumes_from_last_chunk(
    sync_runtime: Runtime,
    sync_sandbox: MetaSandbox,
    start_worker: Callable[[str], subprocess.Popen[bytes]],
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 0)
    fetch = backfill(sync_runtime, sync_sandbox, connection, 12)
    sync_sandbox.faults(slow_rate=1.0, slow_seconds=0.15)
    first = start_worker("doomed")
    wait_for(lambda: done_chunks(load(sync_runtime, fetch.id)) >= 4)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    at_kill = load(sync_runtime, fetch.id)
    assert at_kill.status is RunStatus.RUNNING
    done_before = [i for i, c in enumerate(at_kill.checkpoint["chunks"]) if c["status"] == "done"]
    assert 4 <= len(done_before) < len(at_kill.checkpoint["chunks"])
    time.sleep(0.5)  # the server notices the dead socket and frees the advisory lock
    with unit_of_work(sync_runtime.sessions) as session:
        recovered = scheduler.recover_stalled(session, now=datetime.now().astimezone())
        assert fetch.id in [f.id for f in recovered]
    with unit_of_work(sync_runtime.sessions) as session:  # no live worker: any age is stale
        release_stalled_jobs(session, closed={service.SYNC_TASK}, seconds=0)
        assert sync_jobs(session, fetch.id) == ["failed", "todo"]  # the dead's, recovery's
    sync_sandbox.http.delete("/_sandbox/faults")
    start_worker("rescuer")
    wait_for(lambda: load(sync_runtime, fetch.id).status is RunStatus.SUCCEEDED)
    # Nothing is left 'doing' by the dead worker; the rescuer marks its own job done just
    # after the run commits, so that one is waited for.
    wait_for(lambda: jobs_now(sync_runtime, fetch.id) == ["failed", "succeeded"], timeout=30)
    final = load(sync_runtime, fetch.id)
    chunks = final.checkpoint["chunks"]
    assert all(chunks[i]["attempts"] == 1 for i in done_before)  # never redone
    assert len(final.checkpoint["runs"]) == 2
    since = date.fromisoformat(chunks[1]["since"])
    until = datetime.fromisoformat(chunks[-1]["until"]).date()
    assert_matches_truth(sync_runtime, sync_sandbox, connection, since, until)


def test_two_workers_never_sync_one_connection_at_once(
    sync_runtime: Runtime,
    sync_sandbox: MetaSandbox,
    start_worker: Callable[[str], subprocess.Popen[bytes]],
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 3)
    fetches = [backfill(sync_runtime, sync_sandbox, connection, 3) for _ in range(4)]
    start_worker("one")
    start_worker("two")
    ids = [f.id for f in fetches]
    wait_for(lambda: all(load(sync_runtime, i).status is RunStatus.SUCCEEDED for i in ids))
    spans = sorted(
        (datetime.fromisoformat(r["started"]), datetime.fromisoformat(r["finished"]))
        for i in ids
        for r in load(sync_runtime, i).checkpoint["runs"]
    )
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, "two syncs of one connection overlapped"
    with sync_runtime.engine.connect() as db:
        deferred = db.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'run_metrics_sync'"
                " AND args->>'fetch_id' = ANY(:ids)"
            ),
            {"ids": [str(i) for i in ids]},
        ).scalar_one()
    assert deferred >= len(ids)
