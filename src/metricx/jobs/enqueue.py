"""Enqueue a Procrastinate job inside the caller's SQLAlchemy transaction, so the job and the
row that asked for it (a fetch) are committed together or not at all."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

DEFER_SQL = text(
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW("
    ":queue, :task, :priority, :lock, :queueing_lock, CAST(:args AS jsonb), "
    "CAST(:scheduled_at AS timestamptz))::procrastinate_job_to_defer_v1]))"
)


def defer_job(
    session: Session,
    task_name: str,
    args: dict[str, Any],
    *,
    queue: str = "default",
    priority: int = 0,
    lock: str | None = None,
    queueing_lock: str | None = None,
    scheduled_at: datetime | None = None,
) -> int:
    """Insert the job; it becomes visible to workers when the transaction commits. Returns the
    job id."""
    job_id = session.execute(
        DEFER_SQL,
        {
            "queue": queue,
            "task": task_name,
            "priority": priority,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": json.dumps(args),
            "scheduled_at": scheduled_at,
        },
    ).scalar_one()
    return int(job_id)
