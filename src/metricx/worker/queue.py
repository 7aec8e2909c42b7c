"""The Procrastinate app on metricx's database (its schema comes with the migrations)."""

from __future__ import annotations

import procrastinate

from metricx.config import Settings
from metricx.db import libpq_url, queue_connector_args
from metricx.worker.tasks import TASKS


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
    """Run a worker until it is stopped (SIGINT/SIGTERM); it also defers periodic tasks."""
    queue = build_queue(database_url, settings)
    async with queue.open_async():
        await queue.run_worker_async(
            concurrency=concurrency, name=name or "worker", install_signal_handlers=True
        )
