"""The Procrastinate app on metricx's database (its schema comes with the migrations)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import procrastinate
from procrastinate.exceptions import ConnectorException

from metricx.config import Settings
from metricx.db import libpq_url, queue_connector_args
from metricx.jobs.context import PROCESS_STOP
from metricx.logging import get_logger
from metricx.worker.tasks import TASKS

log = get_logger("metricx.worker")
RESTART_SECONDS = 1.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def build_queue(database_url: str, settings: Settings | None = None) -> procrastinate.App:
    """The queue on ``database_url``; its connections bounded as ``settings`` say (the
    defaults when None): ``metricx.db.queue_connector_args``."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=libpq_url(database_url), **queue_connector_args(settings)
        )
    )
    for spec in TASKS:
        task = app.task(name=spec.name, queue=spec.queue, pass_context=False, **spec.options)(
            spec.func
        )
        if spec.cron:
            app.periodic(cron=spec.cron, periodic_id=spec.name)(task)
    return app


async def run_worker(
    database_url: str,
    *,
    concurrency: int = 4,
    name: str | None = None,
    settings: Settings | None = None,
) -> None:
    """Run a worker until it is stopped (SIGINT/SIGTERM); it also defers periodic tasks.

    The first signal asks the running jobs to stop (``PROCESS_STOP``: a sync puts its fetch
    back, to resume from its checkpoint) and the worker to end once they have; a second
    signal has its default effect (the process ends at once).

    Procrastinate also stops a worker by itself when one of its side tasks (the periodic
    deferrer, the job listener) meets a database error: one cut session stopped every
    worker it hit for good. Such a worker, or one that could not start for the database, is
    started again after ``RESTART_SECONDS``, until a signal comes."""
    queue = build_queue(database_url, settings)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    current: list[asyncio.Task[None]] = []

    def stop() -> None:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
        stopping.set()
        PROCESS_STOP.request()  # (also when no loop runs yet)
        for task in current:
            stop_worker(task)

    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop)
    try:
        async with queue.open_async():
            while not stopping.is_set():
                worker = asyncio.create_task(
                    queue.run_worker_async(
                        concurrency=concurrency,
                        name=name or "worker",
                        install_signal_handlers=False,
                    )
                )
                current[:] = [worker]
                try:
                    await worker
                except asyncio.CancelledError:
                    if not stopping.is_set():
                        raise
                except ConnectorException as exc:
                    log.warning("worker could not run: database error", error=str(exc))
                if stopping.is_set():
                    break
                log.warning("worker stopped by itself; starting it again", name=name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), RESTART_SECONDS)
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)


def stop_worker(worker: asyncio.Task[None]) -> None:
    """End a worker started with ``run_worker_async``: its long jobs are asked to stop first
    (``PROCESS_STOP``), then Procrastinate's own stop waits for every running job to end."""
    PROCESS_STOP.request()
    worker.cancel()
