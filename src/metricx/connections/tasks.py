"""Connection jobs: thin, ids in, a service call in its own unit of work."""

from __future__ import annotations

from metricx.connections import service
from metricx.db import unit_of_work
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger

log = get_logger("metricx.connections")


def check_meta_tokens(timestamp: int) -> dict[str, int]:
    """Check every token in use (periodic): expiry alerts, invalid tokens -> needs_reauth."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        summary = service.check_tokens(session, settings=runtime.settings, cipher=runtime.cipher)
    log.info("meta tokens checked", scheduled_at=timestamp, **summary)
    return summary
