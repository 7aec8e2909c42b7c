"""A running metricx for browser tests: the app (uvicorn) and a queue worker in threads on a
fresh migrated database, Meta pointed at a sandbox."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import create_engine

from metricx.app import create_app
from metricx.jobs.context import set_runtime
from metricx.migrate import upgrade
from metricx.runtime import Runtime, build_runtime
from metricx.sandbox.server import free_port
from metricx.worker.queue import build_queue
from tests.meta_sandbox import MetaSandbox

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@dataclass
class WebServer:
    base: str
    runtime: Runtime


def _worker(database_url: str, stop: threading.Event) -> None:
    async def main() -> None:
        queue = build_queue(database_url)
        async with queue.open_async():
            task = asyncio.create_task(
                queue.run_worker_async(concurrency=2, name="e2e", install_signal_handlers=False)
            )
            while not stop.is_set():
                await asyncio.sleep(0.1)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def run_web_server(
    box: MetaSandbox, database_url: str, tmp_path: Path, **settings: Any
) -> Iterator[WebServer]:
    engine = create_engine(database_url)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The pages under test here read the figures every page shows; Meta's breakdowns (a report
    # job per set and window, polled in real time) would only make their syncs longer. The
    # breakdown page's test writes its rows itself; tests/sync syncs them from the sandbox.
    settings.setdefault("sync_breakdowns", False)
    config = box.settings(tmp_path, database_url, base_url=base, secure_cookies=False, **settings)
    runtime = build_runtime(config, database_url)
    set_runtime(runtime)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    stop = threading.Event()
    worker = threading.Thread(target=_worker, args=(runtime.database_url, stop), daemon=True)
    worker.start()
    while not server.started:
        time.sleep(0.02)
    yield WebServer(base, runtime)
    stop.set()
    server.should_exit = True
    thread.join(timeout=10)
    worker.join(timeout=10)
    runtime.dispose()
