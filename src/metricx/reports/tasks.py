"""Report jobs: the periodic hand-over of due reports, and one send per delivery (retried by
Procrastinate with exponential backoff when it raises)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from metricx.db import unit_of_work
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger
from metricx.notifications.senders import DeliveryFailed
from metricx.reports import service

log = get_logger("metricx.reports")


def enqueue_due_reports(timestamp: int) -> int:
    """Every 5 minutes: reports whose hour has passed become send jobs, once per period."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        deferred = service.enqueue_due(session, now=datetime.now(UTC))
    if deferred:
        log.info("reports handed over", jobs=deferred, scheduled_at=timestamp)
    return deferred


def send_report(delivery_id: str) -> str:
    """Build and send one report. The attempt is recorded (committed) even when the send
    fails, then the failure is raised again so the job is retried."""
    runtime = current_runtime()
    failure: Exception | None = None
    with unit_of_work(runtime.sessions) as session:
        try:
            outcome = service.deliver(
                session,
                settings=runtime.settings,
                cipher=runtime.cipher,
                delivery_id=uuid.UUID(delivery_id),
            )
        except DeliveryFailed as exc:
            failure = exc
    if failure is not None:
        raise failure
    return outcome
