"""Alert jobs: the periodic evaluation of conditions."""

from __future__ import annotations

from metricx.alerts.evaluation import evaluate
from metricx.db import unit_of_work
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger

log = get_logger("metricx.alerts")


def evaluate_alerts(timestamp: int) -> dict[str, int]:
    """Raise what holds, resolve what cleared (every few minutes)."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        tally = evaluate(session, settings=runtime.settings)
    log.info("alerts evaluated", scheduled_at=timestamp, **tally)
    return dict(tally)
