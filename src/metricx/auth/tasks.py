"""Auth jobs: thin, a service call in its own unit of work."""

from __future__ import annotations

from metricx.auth import service
from metricx.db import unit_of_work
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger

log = get_logger("metricx.auth")


def forget_sign_in_failures(timestamp: int) -> int:
    """Drop idle failed sign-in counters (periodic), so guesses at addresses do not pile up,
    and expired sessions, OAuth states and grants, which are never used again."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        forgotten = service.forget_old_sign_in_failures(session)
        expired = service.purge_expired_sessions(session)
    log.info(
        "sign-in failure counters forgotten",
        count=forgotten,
        expired_sessions=expired,
        scheduled_at=timestamp,
    )
    return forgotten
