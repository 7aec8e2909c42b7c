"""What a worker's tasks share with the process that runs them: the runtime, set once when
the worker (or the demo) starts, and the process's stop request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from metricx.runtime import Runtime

_runtime: Runtime | None = None


def set_runtime(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


def current_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("no runtime: tasks run inside 'metricx worker' or 'metricx demo'")
    return _runtime


class StopSignal:
    """A stop request that long jobs heed. Procrastinate's worker, when it stops, waits for
    the jobs it runs, and a job on a thread cannot be cancelled: a sync in its first backfill
    held a stopping worker (SIGTERM, Ctrl+C) for as long as the backfill took. A job that
    can put its work back registers how to be interrupted (``on_stop``) and checks
    ``requested`` between its steps: a sync defers its fetch, which resumes from its
    checkpoint."""

    def __init__(self) -> None:
        self._set = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[object, Callable[[], None]] = {}

    @property
    def requested(self) -> bool:
        return self._set.is_set()

    def request(self) -> None:
        """Stop: every registered interruption is called once (each on the caller's thread)."""
        with self._lock:
            self._set.set()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        for callback in callbacks:
            callback()

    @contextmanager
    def on_stop(self, callback: Callable[[], None]) -> Iterator[None]:
        """While inside, ``callback`` is called when a stop is requested (at once, if it was
        already)."""
        key = object()  # each registration its own, the same callback registered twice too
        with self._lock:
            already = self._set.is_set()
            if not already:
                self._callbacks[key] = callback
        if already:
            callback()
        try:
            yield
        finally:
            with self._lock:
                self._callbacks.pop(key, None)


# The process's: set by the worker's signal handlers and by the demo when it stops.
PROCESS_STOP = StopSignal()
