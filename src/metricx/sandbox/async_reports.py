"""Async insights report runs (AdReportRun): creation, status polling, results.

Progress is driven by status polls, not wall time, so tests are fast and deterministic:
"Job Started" 0% -> "Job Running" ... -> "Job Running" 100% (at least one poll: Meta's
quirk) -> "Job Completed" 100%. Reading results before completion gives 2601/1815107.

A job with breakdowns whose window starts over 13 months back gets reach only while its
account's daily allowance for such jobs lasts (``take_reach``: Meta's 10 a day); the
registry counts what each account used per day.

Per ad account the registry counts the jobs running (created, not yet completed or failed) and
the most that ever ran at once, which tests read (``/_sandbox/reports``) to see a sync keep
several jobs of one account in flight. With ``hold`` (the report_hold_concurrency fault) a job
stays "Job Running" until that many jobs of its account ran at once: a test sees concurrency
as an event, not a race.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from datetime import date
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
    finished: bool = False


@dataclass
class AccountJobs:
    """An ad account's report jobs: created, running now, the most running at once, and the
    calls refused for its rate limit (throttled)."""

    created: int = 0
    running: int = 0
    max_running: int = 0
    throttled: int = 0
    throttle_fired: int = 0  # the throttle_when_running fault refused a call


class ReportRegistry:
    def __init__(self, world: World, polls_to_complete: int) -> None:
        self.world = world
        self.polls_to_complete = max(3, polls_to_complete)
        self._runs: dict[str, ReportRun] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._accounts: dict[str, AccountJobs] = {}
        self._reach_used: dict[tuple[str, date], int] = {}

    def reset(self) -> None:
        with self._lock:
            self._runs.clear()
            self._accounts.clear()
            self._reach_used.clear()

    def take_reach(self, account_id: str, day: date, allowance: int) -> bool:
        """One of the account's reach jobs of ``day``, if any are left of ``allowance``."""
        with self._lock:
            used = self._reach_used.get((account_id, day), 0)
            if used >= allowance:
                return False
            self._reach_used[(account_id, day)] = used + 1
            return True

    def _jobs(self, account_id: str) -> AccountJobs:
        return self._accounts.setdefault(account_id, AccountJobs())

    def activity(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {k: dict(vars(v)) for k, v in self._accounts.items()}

    def clear_activity(self) -> None:
        """Counts from zero (jobs still running stay counted as running)."""
        with self._lock:
            for jobs in self._accounts.values():
                jobs.created = jobs.throttled = jobs.throttle_fired = 0
                jobs.max_running = jobs.running

    def throttle_now(self, account_id: str, when_running: int) -> bool:
        """Whether the throttle_when_running fault refuses this call (once per account)."""
        if when_running <= 0:
            return False
        with self._lock:
            jobs = self._jobs(account_id)
            if jobs.throttle_fired or jobs.running < when_running:
                return False
            jobs.throttle_fired = 1
            return True

    def throttled(self, account_id: str) -> None:
        with self._lock:
            self._jobs(account_id).throttled += 1

    def create(self, query: InsightsQuery, now: int, fails: bool) -> ReportRun:
        with self._lock:
            run_id = self.world.entity_id(KIND_REPORT, next(self._ids))
            run = ReportRun(id=run_id, query=query, time_ref=now, fails=fails)
            self._runs[run_id] = run
            jobs = self._jobs(query.account.id)
            jobs.created += 1
            jobs.running += 1
            jobs.max_running = max(jobs.max_running, jobs.running)
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

    def poll(self, run: ReportRun, now: int, hold: int = 0) -> dict[str, Any]:
        """Status as the poll that just arrived sees it (each poll moves the job on, unless
        ``hold`` jobs of its account have not yet run at once)."""
        with self._lock:
            held = hold > 0 and self._jobs(run.query.account.id).max_running < hold
            if not held or run.polls < 2:
                run.polls += 1
            status, pct = self._state(run.polls, run)
            if status in ("Job Completed", "Job Failed") and not run.time_completed:
                run.time_completed = now
            if status in ("Job Completed", "Job Failed") and not run.finished:
                run.finished = True
                self._jobs(run.query.account.id).running -= 1
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
