"""Notification jobs: the periodic dispatch of the alert outbox, and one send per delivery
(retried by Procrastinate with exponential backoff when it raises)."""

from __future__ import annotations

import uuid

from metricx.db import unit_of_work
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger
from metricx.notifications import service

log = get_logger("metricx.notifications")


def dispatch_notifications(timestamp: int) -> int:
    """Every minute: new and resolved alerts become send jobs."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        deferred = service.dispatch(session)
    if deferred:
        log.info("notifications dispatched", jobs=deferred, scheduled_at=timestamp)
    return deferred


def send_notification(delivery_id: str) -> str:
    """Send one delivery. The attempt is recorded (committed) even when the send fails, then
    the failure is raised again so the job is retried."""
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
        except service.senders.DeliveryFailed as exc:
            failure = exc
    if failure is not None:
        raise failure
    return outcome
