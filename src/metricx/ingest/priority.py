"""Dashboard questions before bulk writes, within one server process.

Under a steady write load (ingest batches arriving back to back) a small server's cores are
shared between the writes' Python work, their PostgreSQL backends and the questions people
are waiting on; a question then queues behind writes that could as well have waited a moment
(bench/load.py: query p95 about 2 s with three ingest clients). Reads are counted while they
run (``reading``: the app's middleware wraps every GET but the live-update stream); an HTTP
ingest, before it writes each chunk, waits until no read is in flight, at most ``wait``
seconds (``METRICX_INGEST_YIELD_SECONDS``). A write load slows down while people look at
dashboards, and never stops: the wait is bounded per chunk.

Everything here runs on the server's event loop: no lock is needed, and each waiter's future
belongs to the loop that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class ReadsFirst:
    """In-flight reads, and writers waiting for there to be none."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._waiters: list[asyncio.Future[None]] = []

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                waiters, self._waiters = self._waiters, []
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

    async def turn(self, wait: float) -> None:
        """Return once no read is in flight, or after ``wait`` seconds."""
        if self.in_flight == 0 or wait <= 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, wait)
