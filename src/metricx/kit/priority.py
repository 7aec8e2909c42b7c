"""Reads first: a server process's bulk writes (HTTP ingest) step aside while dashboard
questions are being answered.

On a small machine an ingest and a question compete for the same cores (the interpreter for
parsing, PostgreSQL for merging and summing) and the question, which a person waits for,
pays: under bench/load.py's mix a 10 ms question took 100-300 ms. An ingest therefore takes
its steps (parse, write, close) only when no question is in flight, or once it has waited
``max_wait`` seconds for one step, so a steady stream of questions slows ingest down and never
stops it (``StepAside`` bounds one ingest's waits in all). Questions are counted from their
request's arrival to the start of their answer (a live-update stream counts only until it
opens).

One gate per server process (``create_app``); nothing is shared between processes.
"""

from __future__ import annotations

import asyncio
import threading
import time


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class ReadsFirst:
    """The questions in flight in one server process, and the writes waiting for none.
    Loop-agnostic (a test client may run each request on a loop of its own)."""

    def __init__(self) -> None:
        self.reads = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds writes spent stepping aside
        self.timeouts = 0  # steps taken with questions still in flight

    def begin(self) -> None:
        with self._lock:
            self.reads += 1

    def end(self) -> None:
        with self._lock:
            self.reads = max(0, self.reads - 1)
            if self.reads:
                return
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            loop = waiter.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, waiter)

    async def turn(self, max_wait: float) -> float:
        """Return once no question is in flight, or after ``max_wait`` seconds; the seconds
        waited."""
        if self.reads == 0 or max_wait <= 0:
            return 0.0
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self.reads == 0:
                return 0.0
            self._waiters.append(waiter)
        started = time.perf_counter()
        try:
            await asyncio.wait_for(waiter, max_wait)
        except TimeoutError:
            self.timeouts += 1
        finally:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            waited = time.perf_counter() - started
            self.waited += waited
        return waited


class StepAside:
    """One ingest's turns: each waits at most ``step`` seconds, and all of them together at
    most ``STEPS_PER_INGEST`` steps' worth, so a long body under a steady stream of questions
    is slowed by seconds, not by a wait per chunk."""

    STEPS_PER_INGEST = 8

    def __init__(self, gate: ReadsFirst, step: float) -> None:
        self.gate = gate
        self._step_ns = round(step * 1e9)
        self._left_ns = self._step_ns * self.STEPS_PER_INGEST  # whole: spent exactly, no drift

    @property
    def left(self) -> float:
        """Seconds this ingest may still spend stepping aside."""
        return self._left_ns / 1e9

    async def turn(self) -> None:
        allowed = min(self._step_ns, self._left_ns)
        if allowed <= 0:
            return
        waited = await self.gate.turn(allowed / 1e9)
        # A turn costs what it was allowed at most: waking late (a busy loop) is not waiting.
        self._left_ns -= min(round(waited * 1e9), allowed)
