"""Finished jobs are forgotten after job_history_days; live ones, recent ones and the job a
periodic task last deferred stay (Procrastinate's own tables and triggers, a real database)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, create_engine, text

from metricx.jobs import history
from metricx.jobs.context import set_runtime
from metricx.migrate import upgrade
from metricx.runtime import build_runtime
from metricx.worker.queue import build_queue
from metricx.worker.tasks import forget_finished_jobs
from tests.conftest import make_settings


def job(conn: Connection, status: str, *, days_ago: int) -> int:
    """A job moved to ``status`` (Procrastinate's triggers record its events), its events
    dated ``days_ago`` days back."""
    job_id = int(
        conn.execute(
            text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args)"
                " VALUES ('maintenance', 'evaluate_alerts', '{}') RETURNING id"
            )
        ).scalar_one()
    )
    if status != "todo":
        conn.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id"), {"id": job_id}
        )
        conn.execute(
            text(
                "UPDATE procrastinate_jobs SET status = CAST(:s AS procrastinate_job_status)"
                " WHERE id = :id"
            ),
            {"id": job_id, "s": status},
        )
    conn.execute(
        text(
            "UPDATE procrastinate_events SET at = now() - make_interval(days => :d)"
            " WHERE job_id = :id"
        ),
        {"id": job_id, "d": days_ago},
    )
    return job_id


def test_finished_jobs_older_than_the_history_are_deleted_with_their_events(
    fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = fresh_database("job_history")
    engine = create_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        old = [job(conn, s, days_ago=20) for s in ("succeeded", "failed", "cancelled")]
        recent = job(conn, "succeeded", days_ago=3)
        waiting = job(conn, "todo", days_ago=20)
        running = job(conn, "doing", days_ago=20)
        scheduled = job(conn, "succeeded", days_ago=20)
        conn.execute(
            text(
                "INSERT INTO procrastinate_periodic_defers (task_name, defer_timestamp, job_id)"
                " VALUES ('evaluate_alerts', 0, :id)"
            ),
            {"id": scheduled},
        )
    runtime = build_runtime(
        make_settings(tmp_path, url).model_copy(update={"job_history_days": 14})
    )
    set_runtime(runtime)
    try:
        assert forget_finished_jobs(timestamp=0) == len(old)
        assert forget_finished_jobs(timestamp=1) == 0
    finally:
        runtime.dispose()
    with engine.connect() as conn:
        left = set(conn.execute(text("SELECT id FROM procrastinate_jobs")).scalars())
        events = set(
            conn.execute(text("SELECT DISTINCT job_id FROM procrastinate_events")).scalars()
        )
    engine.dispose()
    assert left == {recent, waiting, running, scheduled}
    assert events == left


def test_batches_follow_one_another_and_zero_days_keeps_everything(
    fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = fresh_database("job_history_batches")
    engine = create_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        for _ in range(5):
            job(conn, "succeeded", days_ago=30)
    runtime = build_runtime(make_settings(tmp_path, url).model_copy(update={"job_history_days": 0}))
    set_runtime(runtime)
    try:
        assert forget_finished_jobs(timestamp=0) == 0  # 0: kept for ever
        with runtime.sessions() as s:
            assert history.forget_one_batch(s, days=14, batch=2) == 2
            assert history.forget_one_batch(s, days=14, batch=2) == 2
            assert history.forget_one_batch(s, days=14, batch=2) == 1
            s.commit()
    finally:
        runtime.dispose()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar_one() == 0
    engine.dispose()


def test_finished_jobs_are_forgotten_hourly() -> None:
    queue = build_queue("postgresql://unused@localhost/unused")
    periodic = {t.task.name: t.cron for t in queue.periodic_registry.periodic_tasks.values()}
    assert periodic["forget_finished_jobs"] == "37 * * * *"
