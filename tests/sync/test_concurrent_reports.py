"""Several report jobs of one account in flight at once (``sync_report_concurrency``): the
sandbox sees them run side by side, the facts still equal its truth, a run that dies half way
resumes without losing or repeating a chunk, a run asked to stop (the worker is stopping) puts
its fetch back and the next run resumes it, and a throttling error makes every job in flight
back off, not only the one that met it.

Concurrency is observed as events, never by timing: the sandbox holds its report jobs
(``report_hold_concurrency``) until that many of the account's jobs ran at once, so a sync
that kept one job at a time would never see its jobs finish."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from metricx.config import Settings
from metricx.db import unit_of_work
from metricx.integrations.meta.client import MetaAdsClient
from metricx.jobs.context import StopSignal
from metricx.kit.crypto import Secret
from metricx.models import Connection, Fetch, RunStatus
from metricx.runtime import Runtime
from metricx.sync import runner
from metricx.sync.service import local_today
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account, sync_jobs
from tests.sync.test_sync_sandbox import request, run, sandbox_now
from tests.sync.truth import assert_matches_truth

WAIT = 120.0  # seconds an event may take before the test fails (never slept)


@pytest.fixture
def concurrent(sync_runtime: Runtime, sync_sandbox: MetaSandbox) -> Runtime:
    settings = sync_runtime.settings
    settings.sync_report_concurrency = 3
    settings.sync_async_min_rows = 0  # every ad-level chunk is a report job
    settings.sync_chunk_days_daily = 2
    settings.sync_chunk_days_hourly = 1
    # No breakdown chunks: their jobs' polls move the sandbox clock on after today's facts
    # were fetched (the running hour fills up), which these tests do not model.
    settings.sync_breakdowns = False
    sync_sandbox.http.delete("/_sandbox/reports")
    return sync_runtime


def jobs_of(box: MetaSandbox, connection: Connection) -> dict[str, int]:
    activity = box.http.get("/_sandbox/reports").json()
    account = connection.external_account_id
    account = account if account.startswith("act_") else f"act_{account}"
    return dict(activity.get(account, {"created": 0, "running": 0, "max_running": 0}))


def clients_with(
    box: MetaSandbox, made: list[MetaAdsClient], hook: Callable[[float], None]
) -> Callable[[Settings, Secret], MetaAdsClient]:
    """Clients whose waits go through ``hook`` (which moves the sandbox clock)."""

    def factory(settings: Settings, token: Secret) -> MetaAdsClient:
        client = MetaAdsClient.from_settings(settings, token, sleep=hook)
        made.append(client)
        return client

    return factory


def since_for(runtime: Runtime, box: MetaSandbox, connection: Connection, days: int) -> Any:
    return local_today(connection, sandbox_now(box)) - timedelta(days=days)


def stored(runtime: Runtime, fetch_id: Any) -> Fetch:
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Fetch, fetch_id)
        assert row is not None
        session.expunge(row)
        return row


def test_report_jobs_of_one_account_run_at_once_and_the_facts_equal_the_truth(
    concurrent: Runtime, sync_sandbox: MetaSandbox
) -> None:
    sync_sandbox.faults(report_hold_concurrency=2)  # no job finishes before two ran at once
    connection = connect_account(concurrent, sync_sandbox, 2)
    since = since_for(concurrent, sync_sandbox, connection, 5)
    done = run(concurrent, sync_sandbox, request(concurrent, connection, sync_sandbox, since=since))
    assert done.status is RunStatus.SUCCEEDED, done.error
    jobs = jobs_of(sync_sandbox, connection)
    assert jobs["max_running"] > 1 and jobs["running"] == 0
    assert done.async_jobs == jobs["created"]
    chunks = done.checkpoint["chunks"]
    assert all(c["status"] == "done" and c["attempts"] == 1 for c in chunks)
    assert done.rows == sum(c["rows"] for c in chunks if c["part"] != "entities")
    today = local_today(connection, sandbox_now(sync_sandbox))
    assert assert_matches_truth(concurrent, sync_sandbox, connection, since, today) > 100


class WorkerDied(BaseException):
    """The worker process dies mid-run (nothing below catches it)."""


def test_a_run_that_dies_with_jobs_in_flight_resumes_without_losing_or_repeating_a_chunk(
    concurrent: Runtime, sync_sandbox: MetaSandbox
) -> None:
    sync_sandbox.faults(report_hold_concurrency=2)
    connection = connect_account(concurrent, sync_sandbox, 3)
    since = since_for(concurrent, sync_sandbox, connection, 6)
    fetch = request(concurrent, connection, sync_sandbox, since=since)
    died = threading.Event()

    def dies_after_two_chunks(seconds: float) -> None:
        sync_sandbox.advance(seconds)
        if died.is_set():
            return
        done = [
            c for c in stored(concurrent, fetch.id).checkpoint["chunks"] if c["status"] == "done"
        ]
        if len(done) >= 3:  # the entities and two chunks of facts are in
            died.set()
            raise WorkerDied

    made: list[MetaAdsClient] = []
    with pytest.raises(WorkerDied):
        runner.run_fetch(
            concurrent,
            fetch.id,
            client_factory=clients_with(sync_sandbox, made, dies_after_two_chunks),
            sleep=sync_sandbox.advance,
        )
    half = stored(concurrent, fetch.id)
    assert half.status is RunStatus.RUNNING  # as a killed worker leaves it
    states = [c["status"] for c in half.checkpoint["chunks"]]
    assert 3 <= states.count("done") < len(states)
    written = {(c["part"], c["since"], c["until"], c["breakdown"])
               for c in half.checkpoint["chunks"] if c["status"] == "done"}  # fmt: skip
    # The next run goes on with the chunks not done, in whatever order they were left.
    done = run(concurrent, sync_sandbox, fetch)
    assert done.status is RunStatus.SUCCEEDED, done.error
    chunks = done.checkpoint["chunks"]
    assert all(c["status"] == "done" and c["attempts"] == 1 for c in chunks)
    assert done.rows == sum(c["rows"] for c in chunks if c["part"] != "entities")
    again = [c for c in chunks if (c["part"], c["since"], c["until"], c["breakdown"]) in written]
    assert all(c["write_finished"] is not None for c in again) and len(again) == len(written)
    today = local_today(connection, sandbox_now(sync_sandbox))
    assert assert_matches_truth(concurrent, sync_sandbox, connection, since, today) > 100


@pytest.mark.parametrize("width", [1, 3], ids=["inline", "threads"])
def test_a_run_asked_to_stop_puts_its_fetch_back_and_the_next_run_resumes_it(
    concurrent: Runtime, sync_sandbox: MetaSandbox, width: int
) -> None:
    concurrent.settings.sync_report_concurrency = width
    sync_sandbox.faults(report_hold_concurrency=width)  # (1: never held)
    connection = connect_account(concurrent, sync_sandbox, 2)
    since = since_for(concurrent, sync_sandbox, connection, 6)
    fetch = request(concurrent, connection, sync_sandbox, since=since)
    stop = StopSignal()

    def stops_after_two_chunks(seconds: float) -> None:
        """A wait of a chunk in flight: once two chunks of facts are in, the worker stops."""
        sync_sandbox.advance(seconds)
        chunks = stored(concurrent, fetch.id).checkpoint["chunks"]
        if sum(c["status"] == "done" for c in chunks) >= 3:
            stop.request()

    made: list[MetaAdsClient] = []
    outcome = runner.run_fetch(
        concurrent,
        fetch.id,
        client_factory=clients_with(sync_sandbox, made, stops_after_two_chunks),
        sleep=sync_sandbox.advance,
        stop=stop,
    )
    assert outcome == "deferred" and stop.requested
    half = stored(concurrent, fetch.id)
    assert half.status is RunStatus.QUEUED  # put back, not left running as a dead worker's
    states = [c["status"] for c in half.checkpoint["chunks"]]
    assert 3 <= states.count("done") < len(states)
    # The chunk in flight when the stop came was dropped at its next call, left pending.
    dropped = [c for c in half.checkpoint["chunks"] if c["status"] == "pending"]
    assert any(c["fetch_started"] is not None for c in dropped)
    with unit_of_work(concurrent.sessions) as session:
        assert sync_jobs(session, fetch.id)[-1] == "todo"  # queued to run again
    done = run(concurrent, sync_sandbox, fetch)
    assert done.status is RunStatus.SUCCEEDED, done.error
    chunks = done.checkpoint["chunks"]
    assert all(c["status"] == "done" and c["attempts"] == 1 for c in chunks)
    assert done.rows == sum(c["rows"] for c in chunks if c["part"] != "entities")
    today = local_today(connection, sandbox_now(sync_sandbox))
    assert assert_matches_truth(concurrent, sync_sandbox, connection, since, today) > 100


def test_a_throttling_error_makes_every_job_in_flight_back_off(
    concurrent: Runtime, sync_sandbox: MetaSandbox
) -> None:
    block = 37.0  # Meta's regain-access wait, seconds (a value no other wait takes)
    # Two report jobs at Meta at once (held until then); Meta refuses the next call.
    sync_sandbox.faults(report_hold_concurrency=2, throttle_when_running=2, throttle_seconds=block)
    connection = connect_account(concurrent, sync_sandbox, 1)
    since = since_for(concurrent, sync_sandbox, connection, 5)
    fetch = request(concurrent, connection, sync_sandbox, since=since)
    made: list[MetaAdsClient] = []
    throttled, over = threading.Event(), threading.Event()

    def hook(seconds: float) -> None:
        if seconds == block:  # a job met the throttling error and waits it out
            throttled.set()
            assert over.wait(WAIT), "the test never ended the block"
        sync_sandbox.advance(seconds)

    outcome: dict[str, Any] = {}

    def sync() -> None:
        try:
            outcome["fetch"] = run(
                concurrent,
                sync_sandbox,
                fetch,
                client_factory=clients_with(sync_sandbox, made, hook),
            )
        except BaseException as exc:  # reported below
            outcome["error"] = exc
            over.set()

    worker = threading.Thread(target=sync)
    worker.start()
    try:
        assert throttled.wait(WAIT), "Meta never throttled the sync"
        governor = made[0].transport.governor
        in_flight, backing_off = governor.wait_all_backing_off(WAIT)
        # Every job in flight waits: the one Meta refused, and the others at the gate instead
        # of calling on into the block (Meta refused only one call: one that went on calling
        # would finish its chunk and never wait).
        assert in_flight >= 2 and backing_off == in_flight
        jobs = jobs_of(sync_sandbox, connection)
        assert jobs["throttled"] == 1 and jobs["max_running"] >= 2
    finally:
        over.set()
        worker.join(WAIT)
    assert "error" not in outcome, outcome.get("error")
    done = outcome["fetch"]
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert jobs_of(sync_sandbox, connection)["throttled"] == 1
    today = local_today(connection, sandbox_now(sync_sandbox))
    assert assert_matches_truth(concurrent, sync_sandbox, connection, since, today) > 100
