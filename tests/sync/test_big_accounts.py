"""Big accounts: a report job Meta fails for its size is split (the window halved down to one
day, then the campaigns halved down to one) and the pieces asked instead; the sync completes
with every fact equal to the sandbox's truth and no chunk failed."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY

from metricx.models import RunStatus
from metricx.runtime import Runtime
from metricx.sync.service import local_today
from tests.meta_sandbox import MetaSandbox
from tests.sync.conftest import connect_account
from tests.sync.test_sync_sandbox import request, run, sandbox_now
from tests.sync.truth import assert_matches_truth


def splits(part: str) -> float:
    return REGISTRY.get_sample_value("metricx_sync_chunk_splits_total", {"part": part}) or 0.0


def test_report_jobs_too_big_for_meta_are_split_until_they_pass(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    settings = sync_runtime.settings
    settings.sync_async_min_rows = 0  # every ad-level chunk is a report job
    # One day of the account's 20 ads by hour is 480 rows: over the limit; one or two
    # campaigns' (8 ads: 192 rows) too; a campaign's 4 ads (96 rows) pass.
    sync_sandbox.faults(report_max_rows=150)
    hourly_before, daily_before = splits("ad_hour"), splits("ad_day")
    try:
        connection = connect_account(sync_runtime, sync_sandbox, 1)
        today = local_today(connection, sandbox_now(sync_sandbox))
        since = today - timedelta(days=3)
        done = run(sync_runtime, sync_sandbox, request(sync_runtime, connection, sync_sandbox,
                                                       since=since))  # fmt: skip
    finally:
        sync_sandbox.faults(report_max_rows=0)
    assert done.status is RunStatus.SUCCEEDED, done.error
    chunks = done.checkpoint["chunks"]
    assert all(c["status"] == "done" for c in chunks)
    hourly = [c for c in chunks if c["part"] == "ad_hour"]
    assert all(c["since"] == c["until"] for c in hourly)  # halved down to single days
    by_campaign = [c for c in hourly if c.get("campaigns")]
    assert by_campaign and max(len(c["campaigns"]) for c in by_campaign) <= 1
    assert splits("ad_hour") > hourly_before
    assert splits("ad_day") >= daily_before
    assert assert_matches_truth(sync_runtime, sync_sandbox, connection, since, today) > 100
