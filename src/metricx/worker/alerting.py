"""The periodic alert evaluation: the alerts package's own conditions (stale data, repeated
sync failures), then each domain's sweep of the alerts it raised. The list of sweeps lives
here, where the worker composes every domain, so the dependency goes one way (domains ->
alerts) and alerts/ imports no domain."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy.orm import Session

from metricx.alerts.evaluation import AlertSweep, evaluate
from metricx.config import Settings
from metricx.connections.service import clear_settled_alerts
from metricx.db import unit_of_work
from metricx.ingest.service import clear_quiet_failure_alerts
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger

log = get_logger("metricx.alerts")

# Each domain that raises alerts whose cause can go away without it noticing clears them here.
# (Sync and quality clear theirs as they run; connections also on reconnect and disconnect.)
ALERT_SWEEPS: tuple[AlertSweep, ...] = (clear_settled_alerts, clear_quiet_failure_alerts)


def evaluate_all(
    session: Session, *, settings: Settings, now: datetime | None = None
) -> Counter[str]:
    """What the 5-minute job does: every condition, every domain's sweep."""
    return evaluate(session, settings=settings, now=now, sweeps=ALERT_SWEEPS)


def evaluate_alerts(timestamp: int) -> dict[str, int]:
    """Raise what holds, resolve what cleared (every few minutes)."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        tally = evaluate_all(session, settings=runtime.settings)
    log.info("alerts evaluated", scheduled_at=timestamp, **tally)
    return dict(tally)
