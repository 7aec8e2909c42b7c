"""Metrics syncs against the sandbox, through the real SDK: backfill, incremental, revisions,
faults, failures, gaps. Every stored fact must equal the sandbox's truth."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from metricx.config import Settings
from metricx.db import unit_of_work
from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.errors import TransientError
from metricx.jobs.stalled import release_stalled_jobs
from metricx.kit.crypto import Secret
from metricx.models import (
    Alert,
    Connection,
    ConnectionStatus,
    FailedRecord,
    Fetch,
    Import,
    RunStatus,
)
from metricx.runtime import Runtime
from metricx.sync import checkpoints, repository, runner, scheduler, service
from metricx.sync.service import local_today
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account, sandbox_clients, set_sync_jobs, sync_jobs
from tests.sync.truth import assert_matches_truth


def sandbox_now(box: MetaSandbox) -> datetime:
    return datetime.fromisoformat(box.http.get("/_sandbox/clock").json()["now"])


def request(runtime: Runtime, connection: Connection, box: MetaSandbox, **window: Any) -> Fetch:
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        fetch = service.request_sync(
            session, settings=runtime.settings, connection=row, now=sandbox_now(box), **window
        )
        session.expunge(fetch)
        return fetch


def run(runtime: Runtime, box: MetaSandbox, fetch: Fetch, **kwargs: Any) -> Fetch:
    kwargs.setdefault("client_factory", sandbox_clients(box))
    kwargs.setdefault("sleep", box.advance)
    while runner.run_fetch(runtime, fetch.id, **kwargs) == "deferred":
        pass
    with unit_of_work(runtime.sessions) as session:
        done = session.get(Fetch, fetch.id)
        assert done is not None
        session.expunge(done)
        return done


def history(runtime: Runtime, connection: Connection, box: MetaSandbox) -> tuple[date, date]:
    today = local_today(connection, sandbox_now(box))
    return today - timedelta(days=runtime.settings.sync_backfill_days - 1), today


@pytest.mark.parametrize("index", [0, 1, 2, 3], ids=["los_angeles", "berlin", "utc", "kolkata"])
def test_backfill_then_incremental_equals_truth(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox, index: int
) -> None:
    sync_runtime.settings.sync_backfill_days = 36
    connection = connect_account(sync_runtime, sync_sandbox, index)
    backfill = run(sync_runtime, sync_sandbox, request(sync_runtime, connection, sync_sandbox))
    assert backfill.kind == "backfill" and backfill.status is RunStatus.SUCCEEDED
    assert backfill.rows > 0 and backfill.calls > 0 and backfill.async_jobs > 0
    since, until = history(sync_runtime, connection, sync_sandbox)
    assert assert_matches_truth(sync_runtime, sync_sandbox, connection, since, until) > 100

    sync_sandbox.advance(7 * 3600)  # late conversions arrive; the running hour fills up
    incremental = run(sync_runtime, sync_sandbox, request(sync_runtime, connection, sync_sandbox))
    assert incremental.kind == "sync" and incremental.status is RunStatus.SUCCEEDED
    assert incremental.revised > 0
    # An hourly sync re-reads the days of the hourly lookback: those are exact now. An older
    # day whose last conversions arrived since the backfill (the account's day rolled over in
    # the 7 hours) waits for the daily pass.
    assert checkpoints.sync_of(incremental).lookback == "short"
    _, until = history(sync_runtime, connection, sync_sandbox)
    recent = until - timedelta(days=sync_runtime.settings.sync_lookback_days_hourly)
    assert_matches_truth(sync_runtime, sync_sandbox, connection, recent, until)

    # A day later the daily pass is due. It is timed from the backfill's created_at, which the
    # database's clock wrote, not the sandbox's: that moves back the day the sandbox moves on.
    sync_sandbox.advance(24 * 3600)
    with sync_runtime.engine.begin() as db:
        db.execute(
            text(
                "UPDATE fetches SET created_at = created_at - interval '1 day'"
                " WHERE connection_id = :c"
            ),
            {"c": connection.id},
        )
    daily = run(sync_runtime, sync_sandbox, request(sync_runtime, connection, sync_sandbox))
    assert daily.status is RunStatus.SUCCEEDED and checkpoints.sync_of(daily).lookback == "full"
    _, until = history(sync_runtime, connection, sync_sandbox)
    assert_matches_truth(sync_runtime, sync_sandbox, connection, since, until)


def test_throttling_and_server_errors_slow_the_sync_but_lose_nothing(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 0)
    sync_sandbox.tier("development")  # 60 points per 300 s: throttled after a few calls
    sync_sandbox.faults(error_500_rate=0.2, transient_rate=0.1)
    since = local_today(connection, sandbox_now(sync_sandbox)) - timedelta(days=9)
    fetch = run(
        sync_runtime, sync_sandbox, request(sync_runtime, connection, sync_sandbox, since=since)
    )
    assert fetch.status is RunStatus.SUCCEEDED
    sync_sandbox.http.delete("/_sandbox/faults")
    sync_sandbox.tier("standard")
    # The clock moved while we waited: a normal incremental sync brings the recent days up to
    # date; older hours are only right if the backfill lost nothing.
    run(sync_runtime, sync_sandbox, request(sync_runtime, connection, sync_sandbox))
    until = local_today(connection, sandbox_now(sync_sandbox))
    assert_matches_truth(sync_runtime, sync_sandbox, connection, since, until)


def failing_client(bad_since: str) -> Any:
    def factory(settings: Settings, token: Secret) -> MetaAdsClient:
        client = MetaAdsClient.from_settings(settings, token, sleep=lambda _s: None)
        real = client.get_insights

        def get_insights(object_id: str, **options: Any) -> Any:
            if options.get("breakdowns") and options["time_range"]["since"] == bad_since:
                raise TransientError("Meta had a temporary problem (injected)")
            return real(object_id, **options)

        client.get_insights = get_insights
        return client

    return factory


def test_a_chunk_that_keeps_failing_is_dead_lettered_and_the_rest_goes_on(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    sync_runtime.settings.sync_async_min_rows = 10**9
    sync_runtime.settings.sync_chunk_days_hourly = 7  # two hourly chunks: one fails, one not
    connection = connect_account(sync_runtime, sync_sandbox, 3)
    today = local_today(connection, sandbox_now(sync_sandbox))
    since = today - timedelta(days=13)
    fetch = request(sync_runtime, connection, sync_sandbox, since=since)
    done = run(
        sync_runtime,
        sync_sandbox,
        fetch,
        client_factory=failing_client(since.isoformat()),
        sleep=lambda _s: None,
    )
    assert done.status is RunStatus.PARTIAL and done.error_code == "chunks_failed"
    chunks = done.checkpoint["chunks"]
    failed = [c for c in chunks if c["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["part"] == "ad_hour"
    assert failed[0]["attempts"] == sync_runtime.settings.sync_chunk_attempts
    assert all(c["status"] == "done" for c in chunks if c is not failed[0])
    with unit_of_work(sync_runtime.sessions) as session:
        dead = session.scalars(
            select(FailedRecord)
            .join(Import, Import.id == FailedRecord.import_id)
            .where(Import.fetch_id == fetch.id)
        ).one()
        assert dead.payload["since"] == since.isoformat() and dead.payload["part"] == "ad_hour"
        alert = session.scalars(
            select(Alert).where(
                Alert.workspace_id == connection.workspace_id, Alert.kind == "sync_failed"
            )
        ).one()
        assert "ad_hour" in alert.message
    # the failed week was not written; the gap check finds it and a gap fill repairs it
    with unit_of_work(sync_runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        gaps = scheduler.fill_gaps(
            session, settings=sync_runtime.settings, connection=row, now=sandbox_now(sync_sandbox)
        )
        session.expunge_all()
    assert [g.kind for g in gaps] == ["gap_fill"]
    assert run(sync_runtime, sync_sandbox, gaps[0]).status is RunStatus.SUCCEEDED
    assert_matches_truth(sync_runtime, sync_sandbox, connection, since, today)


def test_gap_detection_finds_a_missing_day_and_backfills_it(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 2)
    today = local_today(connection, sandbox_now(sync_sandbox))
    since = today - timedelta(days=8)
    run(sync_runtime, sync_sandbox, request(sync_runtime, connection, sync_sandbox, since=since))
    hole = today - timedelta(days=4)
    with sync_runtime.engine.begin() as db:
        db.execute(
            text(
                "DELETE FROM metric_facts f USING entities e WHERE e.id = f.entity_id"
                " AND e.connection_id = :cid AND f.level = 'ad'"
                " AND (f.event_at AT TIME ZONE :tz)::date = :day"
            ),
            {"cid": connection.id, "tz": connection.timezone, "day": hole},
        )
    with unit_of_work(sync_runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        windows = scheduler.find_gaps(
            session, settings=sync_runtime.settings, connection=row, today=today
        )
        assert [(w.since, w.until) for w in windows] == [(hole, hole)]
        [gap] = scheduler.fill_gaps(
            session, settings=sync_runtime.settings, connection=row, now=sandbox_now(sync_sandbox)
        )
        session.expunge(gap)
    assert run(sync_runtime, sync_sandbox, gap).status is RunStatus.SUCCEEDED
    assert_matches_truth(sync_runtime, sync_sandbox, connection, since, today)
    with unit_of_work(sync_runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        assert (
            scheduler.find_gaps(
                session, settings=sync_runtime.settings, connection=row, today=today
            )
            == []
        )


def test_revoked_token_fails_the_sync_and_asks_for_reauth(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 1)
    fetch = request(sync_runtime, connection, sync_sandbox)
    revoke_at = sandbox_now(sync_sandbox) + timedelta(seconds=1)
    sync_sandbox.faults(revoke_at=revoke_at.isoformat())
    sync_sandbox.advance(2)
    done = run(sync_runtime, sync_sandbox, fetch)
    assert done.status is RunStatus.FAILED and done.error_code == "connection_lost"
    with unit_of_work(sync_runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None and row.status is ConnectionStatus.NEEDS_REAUTH


def test_a_second_run_waits_while_the_connection_is_locked(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 2)
    fetch = request(sync_runtime, connection, sync_sandbox)
    with sync_runtime.engine.connect() as other:
        assert repository.try_session_lock(other, connection.id)
        other.commit()
        assert runner.run_fetch(sync_runtime, fetch.id) == "deferred"
        with unit_of_work(sync_runtime.sessions) as session:
            jobs = session.execute(
                text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'run_metrics_sync'"
                    " AND args->>'fetch_id' = :f AND status = 'todo'"
                ),
                {"f": str(fetch.id)},
            ).scalar_one()
            assert jobs == 2  # the original job and the deferred retry
            row = session.get(Fetch, fetch.id)
            assert row is not None and row.status is RunStatus.QUEUED
            assert scheduler.recover_stalled(session, now=datetime.now(UTC)) == []
        repository.release_session_lock(other, connection.id)
        other.commit()
    assert run(sync_runtime, sync_sandbox, fetch).status is RunStatus.SUCCEEDED


def recovered(runtime: Runtime) -> list[uuid.UUID]:
    """The fetches one pass of the stalled-sync recovery queues again."""
    with unit_of_work(runtime.sessions) as session:
        return [f.id for f in scheduler.recover_stalled(session, now=datetime.now(UTC))]


def test_a_queued_sync_whose_job_died_before_it_ran_is_queued_again(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 2)
    fetch = request(sync_runtime, connection, sync_sandbox)
    with sync_runtime.engine.begin() as db:
        # What Procrastinate records when the job raises before the run starts (its database
        # session was cut): the fetch still says queued, and no job will ever run it.
        set_sync_jobs(db, fetch.id, "status = 'failed'")
    assert recovered(sync_runtime) == [fetch.id]
    assert recovered(sync_runtime) == []  # queued now
    with unit_of_work(sync_runtime.sessions) as session:
        assert sync_jobs(session, fetch.id) == ["failed", "todo"]
    assert run(sync_runtime, sync_sandbox, fetch).status is RunStatus.SUCCEEDED


def test_a_queued_sync_whose_worker_died_before_starting_it_is_queued_again(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 2)
    fetch = request(sync_runtime, connection, sync_sandbox)
    with sync_runtime.engine.begin() as db:
        # A worker took the job (as Procrastinate's fetch does) and was killed before the run
        # began: the fetch still says queued, the job says doing.
        worker = db.execute(text("SELECT procrastinate_register_worker_v1()")).scalar_one()
        [job] = set_sync_jobs(db, fetch.id, "status = 'doing', worker_id = :w", w=worker)
    assert recovered(sync_runtime) == []  # its heartbeat is fresh: not yet
    with sync_runtime.engine.begin() as db:
        db.execute(
            text(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '10 minutes'"
                " WHERE id = :w"
            ),
            {"w": worker},
        )
    assert recovered(sync_runtime) == [fetch.id]
    with unit_of_work(sync_runtime.sessions) as session:  # the dead worker's job is closed
        released = release_stalled_jobs(session, closed={service.SYNC_TASK})
        assert job in released.closed and job not in released.retried
        assert sync_jobs(session, fetch.id) == ["failed", "todo"]
    assert run(sync_runtime, sync_sandbox, fetch).status is RunStatus.SUCCEEDED


def test_due_connections_get_one_sync_each(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 0)
    now = sandbox_now(sync_sandbox)
    with unit_of_work(sync_runtime.sessions) as session:
        queued = scheduler.enqueue_due(session, settings=sync_runtime.settings, now=now)
        again = scheduler.enqueue_due(session, settings=sync_runtime.settings, now=now)
        mine = [f for f in queued if f.connection_id == connection.id]
        assert [f.kind for f in mine] == ["backfill"]  # a new connection: its first backfill
        assert not [f for f in again if f.connection_id == connection.id]
        count = session.scalar(
            select(func.count()).select_from(Fetch).where(Fetch.connection_id == connection.id)
        )
        assert count == 1


def test_a_synchronous_call_refused_mid_paging_goes_to_a_report_job_counted_once(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    connection = connect_account(sync_runtime, sync_sandbox, 1)
    since = local_today(connection, sandbox_now(sync_sandbox)) - timedelta(days=2)
    settings = sync_runtime.settings
    saved = settings.sync_page_size, settings.sync_async_min_rows, settings.sync_breakdowns
    settings.sync_page_size, settings.sync_async_min_rows = 20, 10**9  # synchronous, paged
    settings.sync_breakdowns = False  # breakdown chunks always use report jobs
    try:
        plain = run(
            sync_runtime, sync_sandbox, request(sync_runtime, connection, sync_sandbox, since=since)
        )
        assert plain.async_jobs == 0 and plain.rows > 100
        # Meta refuses the third page of any call: "reduce the amount of data" (100/1487534).
        sync_sandbox.faults(sync_insights_max_rows=50)
        refused = run(
            sync_runtime, sync_sandbox, request(sync_runtime, connection, sync_sandbox, since=since)
        )
    finally:
        settings.sync_page_size, settings.sync_async_min_rows, settings.sync_breakdowns = saved
    assert refused.status is RunStatus.SUCCEEDED and refused.async_jobs > 0
    assert refused.rows == plain.rows  # rows read before a refusal count once, as the job's
    until = local_today(connection, sandbox_now(sync_sandbox))
    assert_matches_truth(sync_runtime, sync_sandbox, connection, since, until)
