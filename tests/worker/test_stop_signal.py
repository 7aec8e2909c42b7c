"""The process's stop request (jobs.context.StopSignal): what a long job registers is called
once when the stop comes, at once when it came already, and never after the job left."""

from __future__ import annotations

from metricx.jobs.context import StopSignal


def test_a_registered_interruption_runs_once_and_only_while_registered() -> None:
    stop = StopSignal()
    calls: list[str] = []
    with stop.on_stop(lambda: calls.append("left")):
        pass
    with stop.on_stop(lambda: calls.append("running")):
        assert not stop.requested
        stop.request()
        stop.request()  # a second signal calls nothing again
    assert stop.requested and calls == ["running"]
    with stop.on_stop(lambda: calls.append("late")):  # started after the stop: told at once
        assert calls == ["running", "late"]
