"""The partition maintenance task, run by a real Procrastinate worker."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from metricx.facts.partitions import add_months, month_start, partition_name
from metricx.jobs.context import set_runtime
from metricx.migrate import upgrade
from metricx.runtime import build_runtime
from metricx.worker.queue import build_queue
from tests.conftest import make_settings


def test_worker_runs_the_partition_maintenance_job(fresh_database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = fresh_database("worker")
    engine = create_engine(url)
    upgrade(engine)
    far = partition_name(add_months(month_start(datetime.now(UTC)), 3))
    with engine.begin() as conn:  # drop the furthest partition: the job must make it again
        conn.execute(text(f"DROP TABLE {far}"))
    runtime = build_runtime(make_settings(tmp_path, url))
    set_runtime(runtime)
    queue = build_queue(url)

    async def run() -> None:
        async with queue.open_async():
            await queue.configure_task("maintain_fact_partitions").defer_async(timestamp=0)
            await queue.run_worker_async(wait=False, install_signal_handlers=False)

    # In a thread of its own: a browser test in this process may own the main thread's loop.
    worker = threading.Thread(target=lambda: asyncio.run(run()))
    worker.start()
    worker.join(timeout=60)
    with engine.connect() as conn:  # our job: the worker may have deferred a periodic one too
        exists = conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": far}).scalar_one()
        status = conn.execute(
            text(
                "SELECT status FROM procrastinate_jobs WHERE task_name = 'maintain_fact_partitions'"
                " AND (args->>'timestamp')::bigint = 0"
            )
        ).scalar_one()
    assert exists
    assert status == "succeeded"
    runtime.dispose()
    engine.dispose()


def test_maintenance_is_scheduled_periodically() -> None:
    queue = build_queue("postgresql://unused@localhost/unused")
    periodic = {t.task.name for t in queue.periodic_registry.periodic_tasks.values()}
    assert "maintain_fact_partitions" in periodic
