"""The runtime a worker's tasks use: set once when the worker (or the demo) starts."""

from __future__ import annotations

from metricx.runtime import Runtime

_runtime: Runtime | None = None


def set_runtime(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


def current_runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("no runtime: tasks run inside 'metricx worker' or 'metricx demo'")
    return _runtime
