"""Tasks of every domain, listed for the queue. Each is thin: ids in, a service call.

Tasks are plain functions registered on each queue app by ``metricx.worker.queue``, so a
process can build as many apps as it needs (tests do) without Procrastinate renaming them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from procrastinate import RetryStrategy

from metricx.auth.tasks import forget_sign_in_failures
from metricx.bi.tasks import export_day_files
from metricx.connections.tasks import check_meta_tokens
from metricx.db import unit_of_work
from metricx.facts.partitions import ensure_partitions_ahead
from metricx.facts.statistics import analyze_stale_tables
from metricx.fx.tasks import fetch_exchange_rates
from metricx.jobs import history
from metricx.jobs.context import current_runtime
from metricx.jobs.stalled import release_stalled_jobs
from metricx.logging import get_logger
from metricx.notifications.tasks import dispatch_notifications, send_notification
from metricx.quality.tasks import validate_all_connections, validate_connection
from metricx.reports.tasks import enqueue_due_reports, send_report
from metricx.retention.tasks import enforce_retention
from metricx.sync.service import SYNC_TASK
from metricx.sync.tasks import (
    enqueue_due_syncs,
    fetch_reach_range,
    fill_sync_gaps,
    run_metrics_sync,
    sync_connection_entities,
)
from metricx.worker.alerting import evaluate_alerts

log = get_logger("metricx.worker")


@dataclass(frozen=True)
class TaskSpec:
    func: Callable[..., Any]
    name: str
    queue: str = "default"
    cron: str | None = None  # periodic when set
    options: dict[str, Any] = field(default_factory=dict)


def maintain_fact_partitions(timestamp: int) -> list[str]:
    """Keep monthly metric_facts partitions created ahead of time (hourly; cheap when done)."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        created = ensure_partitions_ahead(
            session, months_ahead=runtime.settings.partition_months_ahead
        )
    log.info("fact partitions maintained", created=created, scheduled_at=timestamp)
    return created


def refresh_planner_statistics(timestamp: int) -> list[str]:
    """Every minute: tables whose statistics lag their writes, or were never gathered, are
    analyzed (facts.statistics)."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        analyzed = analyze_stale_tables(session, share=runtime.settings.stats_refresh_share)
    if analyzed:
        log.info("planner statistics refreshed", tables=analyzed, scheduled_at=timestamp)
    return analyzed


def forget_finished_jobs(timestamp: int) -> int:
    """Hourly: jobs finished more than ``job_history_days`` ago deleted (jobs.history), a
    batch per transaction; how many."""
    runtime = current_runtime()
    days = runtime.settings.job_history_days
    forgotten = 0
    while days:
        with unit_of_work(runtime.sessions) as session:
            batch = history.forget_one_batch(session, days=days)
        forgotten += batch
        if batch < history.BATCH:
            break
    if forgotten:
        log.info("finished jobs forgotten", count=forgotten, scheduled_at=timestamp)
    return forgotten


def release_dead_workers_jobs(timestamp: int) -> dict[str, int]:
    """Periodic (every 5 minutes): jobs left 'doing' by a dead worker run again, or are
    closed where something else runs them again (sync runs: the sync's own recovery)."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        released = release_stalled_jobs(session, closed={SYNC_TASK})
    summary = {"retried": len(released.retried), "closed": len(released.closed)}
    if released.retried or released.closed:
        log.info("jobs of dead workers released", scheduled_at=timestamp, **summary)
    return summary


TASKS: list[TaskSpec] = [
    TaskSpec(
        release_dead_workers_jobs,
        name="release_dead_workers_jobs",
        queue="maintenance",
        cron="*/5 * * * *",
        options={"queueing_lock": "release_dead_workers_jobs"},
    ),
    TaskSpec(
        forget_finished_jobs,
        name="forget_finished_jobs",
        queue="maintenance",
        cron="37 * * * *",
        options={"queueing_lock": "forget_finished_jobs"},
    ),
    TaskSpec(
        maintain_fact_partitions,
        name="maintain_fact_partitions",
        queue="maintenance",
        cron="7 * * * *",
        options={"queueing_lock": "maintain_fact_partitions"},
    ),
    TaskSpec(
        refresh_planner_statistics,
        name="refresh_planner_statistics",
        queue="maintenance",
        cron="* * * * *",
        options={"queueing_lock": "refresh_planner_statistics"},
    ),
    TaskSpec(sync_connection_entities, name="sync_connection_entities", queue="sync"),
    TaskSpec(
        forget_sign_in_failures,
        name="forget_sign_in_failures",
        queue="maintenance",
        cron="13 * * * *",
        options={"queueing_lock": "forget_sign_in_failures"},
    ),
    TaskSpec(
        check_meta_tokens,
        name="check_meta_tokens",
        queue="maintenance",
        cron="23 */6 * * *",
        options={"queueing_lock": "check_meta_tokens"},
    ),
    # Exchange rates for the reporting currency (issue 18): no-op unless METRICX_FX_URL.
    TaskSpec(
        fetch_exchange_rates,
        name="fetch_exchange_rates",
        queue="maintenance",
        cron="11 * * * *",
        options={"queueing_lock": "fetch_exchange_rates"},
    ),
    # Operations: alert evaluation, notifications, retention.
    TaskSpec(
        evaluate_alerts,
        name="evaluate_alerts",
        queue="maintenance",
        cron="*/5 * * * *",
        options={"queueing_lock": "evaluate_alerts"},
    ),
    TaskSpec(
        dispatch_notifications,
        name="dispatch_notifications",
        queue="notifications",
        cron="* * * * *",
        options={"queueing_lock": "dispatch_notifications"},
    ),
    TaskSpec(
        send_notification,
        name="send_notification",
        queue="notifications",
        # 7 s, 9 s, 13 s, 21 s ... ~17 min in all; notification_max_attempts caps it lower.
        options={"retry": RetryStrategy(max_attempts=10, wait=5, exponential_wait=2)},
    ),
    # Scheduled reports (issue 18): due ones handed over every 5 minutes, one send each.
    TaskSpec(
        enqueue_due_reports,
        name="enqueue_due_reports",
        queue="notifications",
        cron="*/5 * * * *",
        options={"queueing_lock": "enqueue_due_reports"},
    ),
    TaskSpec(
        send_report,
        name="send_report",
        queue="notifications",
        options={"retry": RetryStrategy(max_attempts=10, wait=5, exponential_wait=2)},
    ),
    TaskSpec(
        enforce_retention,
        name="enforce_retention",
        queue="maintenance",
        cron="41 3 * * *",
        options={"queueing_lock": "enforce_retention"},
    ),
    # Day files for BI tools (issue 19): a no-op unless METRICX_EXPORT_DIR is set.
    TaskSpec(
        export_day_files,
        name="export_day_files",
        queue="maintenance",
        cron="47 * * * *",
        options={"queueing_lock": "export_day_files"},
    ),
    # Metrics sync (issue 6). No Procrastinate `lock`: a killed worker's job would hold it
    # forever; the runner's per-connection advisory lock dies with the worker instead.
    TaskSpec(
        run_metrics_sync,
        name="run_metrics_sync",
        queue="sync",
    ),
    # Reach for a range the API asked for (issue 16): retried with backoff if Meta fails.
    TaskSpec(
        fetch_reach_range,
        name="fetch_reach_range",
        queue="sync",
        options={"retry": RetryStrategy(max_attempts=5, wait=10, exponential_wait=2)},
    ),
    TaskSpec(
        enqueue_due_syncs,
        name="enqueue_due_syncs",
        queue="maintenance",
        cron="*/5 * * * *",
        options={"queueing_lock": "enqueue_due_syncs"},
    ),
    TaskSpec(
        fill_sync_gaps,
        name="fill_sync_gaps",
        queue="maintenance",
        cron="29 4 * * *",
        options={"queueing_lock": "fill_sync_gaps"},
    ),
    # Data validation (issue 7): after each sync (queued by the sync) and every 6 hours.
    TaskSpec(validate_connection, name="validate_connection", queue="maintenance"),
    TaskSpec(
        validate_all_connections,
        name="validate_all_connections",
        queue="maintenance",
        cron="53 */6 * * *",
        options={"queueing_lock": "validate_all_connections"},
    ),
]
