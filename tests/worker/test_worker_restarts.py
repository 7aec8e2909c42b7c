"""A `metricx worker` whose database sessions are cut keeps working: Procrastinate stops its
worker loop when a side task (the job listener, the periodic deferrer) meets a database
error, and metricx starts the loop again. Before, one cut session ended the worker for good
(the chaos test's workers, stopped 2 s into the run, left the syncs to nobody).

Every wait is on an event (a log line, a job's status), bounded; nothing is slept."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from metricx.migrate import upgrade
from metricx.worker.queue import build_queue

METRICX = str(Path(sys.executable).parent / "metricx")
WAIT = 60.0


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {WAIT} s"
        time.sleep(0.2)


def test_a_worker_whose_sessions_are_cut_starts_its_loop_again_and_runs_jobs(
    fresh_database,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    url = fresh_database("restarts")
    engine = create_engine(url)
    upgrade(engine)
    log = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("METRICX_")}
    env |= {
        "METRICX_DATABASE_URL": url,
        "METRICX_DATA_DIR": str(tmp_path / "data"),
        "METRICX_LOG_LEVEL": "INFO",
        "METRICX_LOG_FORMAT": "json",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen([METRICX, "worker"], env=env, stdout=out, stderr=out)
    try:
        started = lambda n: log.read_text().count("Starting worker on all queues") >= n  # noqa: E731
        wait_until(lambda: started(1), "the worker started")
        restarted = "worker stopped by itself; starting it again"
        for _ in range(20):  # a cut that misses the listener's session changes nothing
            with engine.connect() as db:
                db.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            deadline = time.monotonic() + 5
            while restarted not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            if restarted in log.read_text():
                break
        assert restarted in log.read_text(), log.read_text()[-3000:]
        wait_until(lambda: started(2), "the worker loop started again")

        # Still at work: a job deferred now is run.
        async def defer() -> int:
            queue = build_queue(url)
            async with queue.open_async():
                return await queue.configure_task("forget_sign_in_failures").defer_async(
                    timestamp=0
                )

        job = asyncio.run(defer())

        def done() -> bool:
            with engine.connect() as db:
                status = db.execute(
                    text("SELECT status FROM procrastinate_jobs WHERE id = :id"), {"id": job}
                ).scalar_one()
            return str(status) == "succeeded"

        wait_until(done, "the job deferred after the restart ran")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        engine.dispose()
