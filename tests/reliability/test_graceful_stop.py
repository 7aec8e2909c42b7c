# ruff: noqa: F811  (the sync fixtures are imported: pytest injects them by name)
"""A worker stopped by SIGTERM (a deploy, a container runtime, Ctrl+C) while a sync is in
flight ends at once and cleanly: the sync's report job is dropped at its next poll, the
chunks already written stay written, the fetch is queued again, and the next worker resumes
it to the same facts as Meta's truth.

The sandbox holds every report job "running" (``report_hold_concurrency`` past what the sync
runs at once), so the sync cannot end by itself: a worker that waited for it would never
stop. Every wait here is on an event (a row, a status, an exit), bounded."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from metricx.db import unit_of_work
from metricx.models import RunStatus
from metricx.runtime import Runtime
from tests.meta_sandbox import MetaSandbox
from tests.reliability.scenarios import (
    WorkerPool,
    link_account,
    load_fetch,
    request_backfill,
    settled_window,
    wait_for,
)
from tests.sync.conftest import (  # noqa: F401  (fixtures)
    NOW,
    sync_database,
    sync_engine,
    sync_jobs,
    sync_runtime,
    sync_sandbox,
    sync_settings,
)
from tests.sync.truth import assert_matches_truth

pytestmark = pytest.mark.e2e
STOP_SECONDS = 30  # a bound on the exit, never slept; the held sync alone would never end


@pytest.fixture
def held_sandbox(sync_sandbox: MetaSandbox) -> Iterator[MetaSandbox]:
    sync_sandbox.http.delete("/_sandbox/reports")
    sync_sandbox.faults(report_hold_concurrency=99)  # no report job finishes
    yield sync_sandbox
    sync_sandbox.http.delete("/_sandbox/faults")
    sync_sandbox.http.delete("/_sandbox/reports")
    sync_sandbox.http.post("/_sandbox/clock", json={"now": NOW.isoformat()})


@pytest.fixture
def workers(sync_runtime: Runtime, tmp_path: Path) -> Iterator[WorkerPool]:
    pool = WorkerPool(
        sync_runtime, tmp_path, METRICX_SYNC_ASYNC_MIN_ROWS="0", METRICX_LOG_LEVEL="INFO"
    )
    yield pool
    pool.stop_all()


def running_jobs(box: MetaSandbox, account: str) -> int:
    activity = box.http.get("/_sandbox/reports").json()
    key = account if account.startswith("act_") else f"act_{account}"
    return int(activity.get(key, {}).get("running", 0))


def test_sigterm_mid_sync_ends_the_worker_and_the_next_one_resumes_the_sync(
    sync_runtime: Runtime, held_sandbox: MetaSandbox, workers: WorkerPool
) -> None:
    box = held_sandbox
    linked = link_account(sync_runtime, box, 1)
    since, until = settled_window(box, linked.connection, 3)
    fetch = request_backfill(sync_runtime, box, linked.connection, since, until)
    first = workers.start("first")

    def in_flight() -> bool:
        chunks = (load_fetch(sync_runtime, fetch.id).checkpoint or {}).get("chunks", [])
        entities_done = any(c["part"] == "entities" and c["status"] == "done" for c in chunks)
        return entities_done and running_jobs(box, linked.account) > 0

    wait_for(in_flight, timeout=120)
    first.send_signal(signal.SIGTERM)
    try:
        code = first.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker was still running {STOP_SECONDS} s after SIGTERM")
    assert code == 0, workers.logs()
    assert "sync put back: the worker is stopping" in workers.logs()

    # Put back: queued, with a job to run it again; what was written stays written.
    half = load_fetch(sync_runtime, fetch.id)
    assert half.status is RunStatus.QUEUED
    states = {c["part"]: c["status"] for c in half.checkpoint["chunks"]}
    assert states["entities"] == "done" and "pending" in states.values()
    with unit_of_work(sync_runtime.sessions) as session:
        assert sync_jobs(session, fetch.id)[-1] == "todo"

    # Meta finishes its jobs again: the next worker resumes the sync to Meta's figures.
    box.http.delete("/_sandbox/faults")
    workers.start("second")
    wait_for(
        lambda: (
            load_fetch(sync_runtime, fetch.id).status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
        ),
        timeout=180,
    )
    done = load_fetch(sync_runtime, fetch.id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert all(c["status"] == "done" for c in done.checkpoint["chunks"])
    assert len(done.checkpoint["runs"]) == 2  # the first worker's run and the second's
    assert assert_matches_truth(sync_runtime, box, linked.connection, since, until) > 0
