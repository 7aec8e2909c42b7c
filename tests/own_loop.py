"""Run a coroutine to completion on an event loop of its own.

``asyncio.run`` refuses to start while the calling thread already runs a loop, and the
browser tests' session-wide Playwright (sync API) keeps one running on the main thread of
whichever xdist worker ran them. A test that drives coroutines itself therefore runs them on
a thread of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_own_loop(coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="own-loop") as pool:
        return pool.submit(asyncio.run, bounded()).result()
