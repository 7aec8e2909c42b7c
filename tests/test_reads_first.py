"""Reads first: an HTTP ingest takes its steps once no dashboard question is in flight in its
server process (or after METRICX_INGEST_READS_FIRST_MS), so questions keep the CPU under a
write load; questions are counted from arrival to the start of their answer."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.app import ReadsFirstMiddleware
from metricx.kit.priority import ReadsFirst, StepAside
from metricx.runtime import Runtime
from tests.conftest import app_client
from tests.factories import make_keyed_workspace
from tests.ingest.helpers import fact, ingest
from tests.own_loop import run_in_own_loop
from tests.test_ingest_limit import HeldApp, ignore, nothing, request


def test_questions_are_counted_until_their_answer_starts_and_writes_not_at_all() -> None:
    async def scenario() -> None:
        gate = ReadsFirst()
        inner = HeldApp()
        app = ReadsFirstMiddleware(inner, gate=gate)  # type: ignore[arg-type]
        sent: list[str] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])

        q = asyncio.create_task(app(request("q", "/w/metrics/query", "GET"), nothing, send))
        h = asyncio.create_task(app(request("h", "/w/metrics/query", "HEAD"), nothing, send))
        w = asyncio.create_task(app(request("w", "/w/metrics/ingest"), nothing, ignore))
        await inner.wait_entered(3)
        assert gate.reads == 2  # the POST is not a question
        inner.release["q"].set()
        await q
        assert gate.reads == 1  # ended without an answer (the app returned): uncounted too

        class Answering:
            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                await send({"type": "http.response.start", "status": 200, "headers": []})
                assert gate.reads == 1  # h only: this one's answer has started
                await send({"type": "http.response.body", "body": b"{}"})

        await ReadsFirstMiddleware(Answering(), gate=gate)(  # type: ignore[arg-type]
            request("a", "/w/metrics/latest", "GET"), nothing, send
        )
        assert gate.reads == 1
        inner.release["h"].set()
        inner.release["w"].set()
        await asyncio.gather(h, w)
        assert gate.reads == 0

    run_in_own_loop(scenario(), timeout=30)


def test_a_turn_waits_for_the_last_question_in_flight() -> None:
    async def scenario() -> None:
        gate = ReadsFirst()
        assert await gate.turn(60) == 0  # nothing in flight: no wait
        gate.begin()
        gate.begin()
        turn = asyncio.create_task(gate.turn(60))
        for _ in range(5):
            await asyncio.sleep(0)
        gate.end()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not turn.done()  # one question still in flight
        gate.end()
        await turn
        assert gate.timeouts == 0

    run_in_own_loop(scenario(), timeout=30)


def test_one_ingest_steps_aside_for_a_bounded_time_in_all() -> None:
    async def scenario() -> None:
        gate = ReadsFirst()
        gate.begin()  # a question that never ends
        aside = StepAside(gate, 0.01)
        for _ in range(StepAside.STEPS_PER_INGEST + 5):
            await aside.turn()
        # Each turn waited its step, until the ingest's allowance was spent: then none.
        assert gate.timeouts == StepAside.STEPS_PER_INGEST
        assert aside.left <= 0

    run_in_own_loop(scenario(), timeout=30)


def test_an_ingest_goes_ahead_once_the_question_in_flight_is_answered(
    runtime: Runtime, db: Session
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"ingest_reads_first_ms": 60_000})
    ws = make_keyed_workspace(db)
    clients = app_client(runtime, db)
    client: TestClient = next(clients)
    gate: ReadsFirst = client.app.state.reads_first  # type: ignore[attr-defined]
    gate.begin()  # a question in flight
    with ThreadPoolExecutor(max_workers=1) as pool:
        posted = pool.submit(ingest, client, ws, [fact("ad-1"), fact("ad-2")])
        deadline = time.monotonic() + 30
        while not gate._waiters and time.monotonic() < deadline:  # the ingest at its first step
            time.sleep(0.01)
        assert gate._waiters, "the ingest never waited for the question"
        assert not posted.done()
        gate.end()  # answered: the ingest goes on
        answer = posted.result(timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["inserted"] == 2
    assert gate.timeouts == 0 and gate.waited > 0
    clients.close()
