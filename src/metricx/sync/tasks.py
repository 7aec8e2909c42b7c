"""Metrics sync jobs: thin, ids in, a service call in its own unit of work."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from metricx.db import unit_of_work
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger
from metricx.sync import entities, reach_ranges, runner, scheduler

log = get_logger("metricx.sync")


def run_metrics_sync(fetch_id: str) -> str | None:
    """Run the queued sync ``fetch_id`` to its end (resuming from its checkpoint); ends
    quietly when it is gone or already finished."""
    return runner.run_fetch(current_runtime(), uuid.UUID(fetch_id))


def sync_connection_entities(fetch_id: str) -> str | None:
    """Run the queued entity sync ``fetch_id``; ends quietly when it is gone or already ran.
    (The task kept the name it had when it lived in connections/: jobs already queued under
    that name still run.)"""
    return entities.run_entity_sync_job(current_runtime(), uuid.UUID(fetch_id))


def enqueue_due_syncs(timestamp: int) -> dict[str, int]:
    """Periodic (every 5 minutes): re-queue syncs whose worker died, then queue a sync for
    every connection that is due (hourly by default; a new connection's first backfill)."""
    runtime = current_runtime()
    now = datetime.now(UTC)
    with unit_of_work(runtime.sessions) as session:
        recovered = scheduler.recover_stalled(session, now=now)
    with unit_of_work(runtime.sessions) as session:
        queued = scheduler.enqueue_due(session, settings=runtime.settings, now=now)
    summary = {"recovered": len(recovered), "queued": len(queued)}
    log.info("due syncs enqueued", scheduled_at=timestamp, **summary)
    return summary


def fill_sync_gaps(timestamp: int) -> dict[str, int]:
    """Periodic (daily): find days missing ad facts for connections with ads and queue their
    backfill."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        queued = scheduler.fill_all_gaps(session, settings=runtime.settings, now=datetime.now(UTC))
    log.info("sync gaps checked", scheduled_at=timestamp, queued=queued)
    return {"queued": queued}


def fetch_reach_range(connection_id: str, since: str, until: str) -> int | None:
    """Meta's reach of one range for a connection's account, campaigns and ad sets (queued by
    the query layer when a question names a range not stored yet)."""
    span = (date.fromisoformat(since), date.fromisoformat(until))
    return reach_ranges.run_range_fetch(current_runtime(), uuid.UUID(connection_id), span)
