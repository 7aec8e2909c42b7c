"""Jobs whose worker died. A worker that is SIGKILLed, or whose machine is lost, leaves its
jobs 'doing' for ever: Procrastinate never looks at them again. Each worker sends a heartbeat
every 10 s; once a worker's heartbeat is older than ``STALLED_AFTER_SECONDS`` (or its row is
gone), its jobs are released:

- run again from the queue, at most ``MAX_KILLED_RUNS`` times (a job that kills its worker
  every time must not kill every worker in turn);
- or closed as failed where something else runs them again: a job with a queueing lock
  (every periodic job has one: its next tick runs it, and a copy put back in the queue would
  collide with the one queued since), and the tasks named in ``closed`` (a sync run, which
  the sync's own recovery puts back in the queue from its checkpoint).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.logging import get_logger

log = get_logger("metricx.worker")
STALLED_AFTER_SECONDS = 60  # six missed heartbeats
MAX_KILLED_RUNS = 3

# A 'doing' job is a live worker's while that worker's heartbeat is fresh: the condition
# other queries (the sync's recovery) share, so both agree on which jobs are orphans.
LIVE_WORKER_SQL = (
    "EXISTS (SELECT 1 FROM procrastinate_workers w WHERE w.id = {job}.worker_id"
    " AND w.last_heartbeat >= now() - make_interval(secs => {seconds}))"
)

_STALLED = text(
    "SELECT j.id, j.task_name, j.attempts, j.queueing_lock IS NOT NULL AS locked"
    " FROM procrastinate_jobs j WHERE j.status = 'doing' AND NOT "
    + LIVE_WORKER_SQL.format(job="j", seconds=":seconds")
    + " ORDER BY j.id FOR UPDATE OF j SKIP LOCKED"
)
_RETRY = text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)")
_CLOSE = text("SELECT procrastinate_finish_job_v1(:id, 'failed', false)")


@dataclass
class Released:
    retried: list[int]
    closed: list[int]


def release_stalled_jobs(
    session: Session, *, closed: Collection[str], seconds: float = STALLED_AFTER_SECONDS
) -> Released:
    """Release the jobs of dead workers, as the module's text says."""
    out = Released([], [])
    for job_id, task, attempts, locked in session.execute(_STALLED, {"seconds": seconds}):
        close = locked or task in closed or attempts + 1 >= MAX_KILLED_RUNS
        session.execute(_CLOSE if close else _RETRY, {"id": job_id})
        (out.closed if close else out.retried).append(job_id)
        log.warning(
            "job of a dead worker " + ("closed as failed" if close else "queued again"),
            job_id=job_id,
            task=task,
            attempts=attempts + 1,
        )
    return out
