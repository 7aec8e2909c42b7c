"""Async insights report runs (AdReportRun): creation, status polling, results.

Progress is driven by status polls, not wall time, so tests are fast and deterministic:
"Job Started" 0% -> "Job Running" ... -> "Job Running" 100% (at least one poll: Meta's
quirk) -> "Job Completed" 100%. Reading results before completion gives 2601/1815107.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

from metricx.sandbox import errors
from metricx.sandbox.generator import KIND_REPORT, World
from metricx.sandbox.insights import InsightsQuery


@dataclass
class ReportRun:
    id: str
    query: InsightsQuery
    time_ref: int
    fails: bool
    polls: int = 0
    time_completed: int = 0


class ReportRegistry:
    def __init__(self, world: World, polls_to_complete: int) -> None:
        self.world = world
        self.polls_to_complete = max(3, polls_to_complete)
        self._runs: dict[str, ReportRun] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._runs.clear()

    def create(self, query: InsightsQuery, now: int, fails: bool) -> ReportRun:
        with self._lock:
            run_id = self.world.entity_id(KIND_REPORT, next(self._ids))
            run = ReportRun(id=run_id, query=query, time_ref=now, fails=fails)
            self._runs[run_id] = run
            return run

    def get(self, run_id: str) -> ReportRun | None:
        return self._runs.get(run_id)

    def _state(self, polls: int, run: ReportRun) -> tuple[str, int]:
        n = self.polls_to_complete
        if polls <= 1:
            return "Job Started", 0
        if polls >= n:
            return ("Job Failed", 0) if run.fails else ("Job Completed", 100)
        if polls == n - 1:
            return ("Job Running", 0) if run.fails else ("Job Running", 100)
        return "Job Running", min(99, 100 * (polls - 1) // (n - 1))

    def poll(self, run: ReportRun, now: int) -> dict[str, Any]:
        """Status as the poll that just arrived sees it (each poll moves the job on)."""
        with self._lock:
            run.polls += 1
            status, pct = self._state(run.polls, run)
            if status in ("Job Completed", "Job Failed") and not run.time_completed:
                run.time_completed = now
        out: dict[str, Any] = {
            "id": run.id,
            "account_id": run.query.account.account_id,
            "time_ref": run.time_ref,
            "async_status": status,
            "async_percent_completion": pct,
            "date_start": run.query.since.isoformat(),
            "date_stop": run.query.until.isoformat(),
            "is_running": status not in ("Job Completed", "Job Failed"),
        }
        if run.time_completed:
            out["time_completed"] = run.time_completed
        if status == "Job Failed":
            out.update(
                {
                    "error_code": -2,
                    "error_subcode": 2490547,
                    "error_message": "Report Failed",
                    "error_user_title": "Report Failed",
                    "error_user_msg": "The report failed to run. Please try again.",
                }
            )
        return out

    def check_readable(self, run: ReportRun) -> None:
        status, _ = self._state(run.polls, run)
        if status != "Job Completed":
            raise errors.report_not_ready()
