"""Jobs a dead worker left 'doing': run again, or closed where something else re-runs them,
and never a live worker's job. Workers register through Procrastinate's own SQL function and
take a job as its fetch does (status 'doing', the worker's id); a worker dies here by its
heartbeat growing old, which is all a SIGKILL leaves behind."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.jobs.enqueue import defer_job
from metricx.jobs.stalled import MAX_KILLED_RUNS, STALLED_AFTER_SECONDS, release_stalled_jobs
from metricx.worker.queue import build_queue


def register_worker(db: Session, *, silent_for: float = 0) -> int:
    worker_id = int(db.execute(text("SELECT procrastinate_register_worker_v1()")).scalar_one())
    db.execute(
        text(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - make_interval(secs => :s)"
            " WHERE id = :w"
        ),
        {"s": silent_for, "w": worker_id},
    )
    return worker_id


def picked_up(db: Session, worker_id: int, task: str, queueing_lock: str | None = None) -> int:
    """A job as a worker holds it: deferred, then taken by that worker."""
    job_id = defer_job(db, task, {"n": 1}, queue="stalled-test", queueing_lock=queueing_lock)
    take(db, worker_id, job_id)
    return job_id


def take(db: Session, worker_id: int, job_id: int) -> None:
    db.execute(
        text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id = :j"),
        {"w": worker_id, "j": job_id},
    )


def state(db: Session, job_id: int) -> tuple[str, int]:
    row = db.execute(
        text("SELECT status, attempts FROM procrastinate_jobs WHERE id = :j"), {"j": job_id}
    ).one()
    return str(row[0]), int(row[1])


def test_jobs_of_a_dead_worker_are_released_and_a_live_workers_are_not(db: Session) -> None:
    dead = register_worker(db, silent_for=STALLED_AFTER_SECONDS + 30)
    alive = register_worker(db, silent_for=5)
    plain = picked_up(db, dead, "send_notification")
    periodic = picked_up(db, dead, "evaluate_alerts", queueing_lock="evaluate_alerts-test")
    sync = picked_up(db, dead, "run_metrics_sync")
    running = picked_up(db, alive, "send_notification")
    # The periodic schedule queued the next tick since: a retried copy would collide with it.
    defer_job(db, "evaluate_alerts", {"n": 2}, queueing_lock="evaluate_alerts-test")

    released = release_stalled_jobs(db, closed={"run_metrics_sync"})

    assert set(released.retried) >= {plain}
    assert set(released.closed) >= {periodic, sync}
    assert running not in released.retried + released.closed
    assert state(db, plain) == ("todo", 1)  # back in the queue, its killed run counted
    assert state(db, periodic) == ("failed", 1)
    assert state(db, sync) == ("failed", 1)
    assert state(db, running) == ("doing", 0)
    assert release_stalled_jobs(db, closed=set()) == type(released)([], [])  # nothing twice


def test_a_job_that_keeps_killing_its_worker_is_given_up(db: Session) -> None:
    job = picked_up(db, register_worker(db, silent_for=600), "send_notification")
    for run in range(1, MAX_KILLED_RUNS + 1):
        released = release_stalled_jobs(db, closed=set())
        if run < MAX_KILLED_RUNS:
            assert released.retried == [job] and state(db, job) == ("todo", run)
            take(db, register_worker(db, silent_for=600), job)  # the next one dies too
        else:
            assert released.closed == [job] and state(db, job) == ("failed", MAX_KILLED_RUNS)


def test_releasing_is_on_the_periodic_schedule() -> None:
    queue = build_queue("postgresql://unused@localhost/unused")
    periodic = {t.task.name for t in queue.periodic_registry.periodic_tasks.values()}
    assert "release_dead_workers_jobs" in periodic
