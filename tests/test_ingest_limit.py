"""At most METRICX_INGEST_CONCURRENCY HTTP ingests run at once in a server process; the rest
wait, and every other request passes straight through."""

from __future__ import annotations

import asyncio
from typing import Any

from metricx.app import IngestLimitMiddleware
from tests.own_loop import run_in_own_loop

INGEST = "/api/v1/workspaces/w/metrics/ingest"


class HeldApp:
    """An ASGI app that records which requests entered and holds each until released."""

    def __init__(self) -> None:
        self.entered: list[str] = []
        self.release: dict[str, asyncio.Event] = {}
        self.arrived = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        name = scope["name"]
        self.entered.append(name)
        self.arrived.set()
        await self.release.setdefault(name, asyncio.Event()).wait()

    async def wait_entered(self, count: int) -> None:
        while len(self.entered) < count:
            self.arrived.clear()
            await self.arrived.wait()


def request(name: str, path: str, method: str = "POST") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "name": name}


async def nothing() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def ignore(_message: Any) -> None:
    return None


def test_ingests_beyond_the_limit_wait_and_other_requests_do_not() -> None:
    async def scenario() -> None:
        inner = HeldApp()
        app = IngestLimitMiddleware(inner, limit=2)  # type: ignore[arg-type]
        ingests = [
            asyncio.create_task(app(request(f"i{n}", INGEST), nothing, ignore)) for n in range(3)
        ]
        await inner.wait_entered(2)
        assert sorted(inner.entered) == ["i0", "i1"]
        # A dashboard question and an ingest's GET neighbours are not held back.
        query = asyncio.create_task(
            app(request("q", "/api/v1/workspaces/w/metrics/query", "GET"), nothing, ignore)
        )
        imports = asyncio.create_task(
            app(request("g", "/api/v1/workspaces/w/metrics/imports", "GET"), nothing, ignore)
        )
        await inner.wait_entered(4)
        assert "i2" not in inner.entered
        # One ingest finishes: the waiting one starts.
        inner.release.setdefault("i0", asyncio.Event()).set()
        await inner.wait_entered(5)
        assert inner.entered[-1] == "i2"
        for name in ("i1", "i2", "q", "g"):
            inner.release.setdefault(name, asyncio.Event()).set()
        await asyncio.gather(*ingests, query, imports)

    run_in_own_loop(scenario(), timeout=30)
