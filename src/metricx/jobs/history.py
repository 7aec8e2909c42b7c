"""Finished jobs forgotten after a while. Procrastinate keeps every job it ran, with its
events, for ever: the periodic jobs alone (statistics every minute, notifications every
minute, alerts and syncs every five) leave over 3,000 jobs and 10,000 events a day. A job in a
final state whose last event is older than ``job_history_days`` is deleted with its events, a
batch at a time (short transactions beside the live queue), except the one a periodic task
last deferred (Procrastinate's record of its schedule points at it)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

BATCH = 5_000

_DELETE = text(
    "DELETE FROM procrastinate_jobs WHERE id IN ("
    " SELECT j.id FROM procrastinate_jobs j"
    " WHERE j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')"
    " AND NOT EXISTS (SELECT 1 FROM procrastinate_periodic_defers d WHERE d.job_id = j.id)"
    " AND NOT EXISTS (SELECT 1 FROM procrastinate_events e WHERE e.job_id = j.id"
    "                 AND e.at >= now() - make_interval(days => :days))"
    " ORDER BY j.id LIMIT :batch)"
)


def forget_one_batch(session: Session, *, days: int, batch: int = BATCH) -> int:
    """Delete up to ``batch`` jobs finished more than ``days`` days ago; how many went."""
    return session.execute(_DELETE, {"days": days, "batch": batch}).rowcount or 0  # type: ignore[attr-defined]
