"""Meta's usage headers, read on every response, and how long to wait before the next call.

x-business-use-case-usage: {obj_id: [{type, call_count, total_cputime, total_time,
estimated_time_to_regain_access (minutes)}]}; x-ad-account-usage: {acc_id_util_pct,
reset_time_duration (seconds)}; x-fb-ads-insights-throttle: {app_id_util_pct, acc_id_util_pct}.
Throttling may start when any percentage reaches 100, so the highest one decides.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

BUC = "x-business-use-case-usage"
ACCOUNT = "x-ad-account-usage"
INSIGHTS = "x-fb-ads-insights-throttle"


@dataclass(frozen=True)
class Usage:
    """The highest usage percentage seen in one response, and Meta's wait if blocked."""

    pct: float = 0.0
    regain_seconds: float = 0.0


def _json(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        return None


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def parse_usage(headers: Mapping[str, str]) -> Usage | None:
    """Usage from one response's headers (any case); None when it carries none."""
    lower = {k.lower(): v for k, v in headers.items()}
    pcts: list[float] = []
    regain = 0.0
    buc = _json(lower.get(BUC))
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, dict):
                    continue
                pcts += [_num(entry.get(k)) for k in ("call_count", "total_cputime", "total_time")]
                regain = max(regain, _num(entry.get("estimated_time_to_regain_access")) * 60)
    account = _json(lower.get(ACCOUNT))
    if isinstance(account, dict):
        pct = _num(account.get("acc_id_util_pct"))
        pcts.append(pct)
        if pct >= 100:
            regain = max(regain, _num(account.get("reset_time_duration")))
    insights = _json(lower.get(INSIGHTS))
    if isinstance(insights, dict):
        pcts += [_num(insights.get("app_id_util_pct")), _num(insights.get("acc_id_util_pct"))]
    if not pcts and not regain:
        return None
    return Usage(pct=max(pcts, default=0.0), regain_seconds=regain)


def retry_after(headers: Mapping[str, str], default: float = 60.0) -> float:
    """How long Meta says to wait after a throttling error (its own estimate, else default)."""
    usage = parse_usage(headers)
    wait = usage.regain_seconds if usage else 0.0
    if not wait:
        lower = {k.lower(): v for k, v in headers.items()}
        account = _json(lower.get(ACCOUNT))
        if isinstance(account, dict):
            wait = _num(account.get("reset_time_duration"))
    return wait if wait > 0 else default


class Cancelled(Exception):
    """The run that shares this governor stopped (a crash, a deferral, a lost token): the job
    still in flight drops its call instead of going on."""


class UsageGovernor:
    """Spaces calls out as the usage approaches 100%: no pause below ``threshold`` percent, then
    a pause growing linearly to ``max_pause`` seconds at 100%. Thread-safe.

    One governor per sync run, shared by the clients of its concurrent report jobs
    (``GraphTransport.share_governor``), so they all obey one reading of Meta's usage:

    - the pause before a call is multiplied by the number of clients sharing it, so N jobs
      together call no faster than one job alone would near the limit;
    - a throttling error (Meta's regain-access wait) closes a gate for everyone: the job that
      met it waits Meta's time out (``throttled_wait``), and every other job's next call waits
      at the gate until that wait is over, instead of calling into the block;
    - ``cancel`` ends the run: a job waiting at the gate, or calling next, raises Cancelled.
    """

    def __init__(
        self,
        *,
        threshold: float = 75.0,
        max_pause: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.threshold = threshold
        self.max_pause = max_pause
        self.sleep = sleep
        self.last = Usage()
        self.paused_seconds = 0.0
        self.sharers = 1  # clients whose calls this governor spaces out
        self._cond = threading.Condition()
        self._holders = 0  # jobs waiting out Meta's regain-access time
        self._waiting = 0  # jobs held at the gate meanwhile
        self._active = 0  # jobs in flight (the sync's runner counts them)
        self._cancelled = threading.Event()

    def observe(self, headers: Mapping[str, str]) -> None:
        usage = parse_usage(headers)
        if usage is not None:
            with self._cond:
                self.last = usage

    def waited_out(self) -> None:
        """Meta's regain-access wait is over: the reading that came with the throttling error
        no longer holds (pausing for it again would wait twice); the next response brings a
        fresh one."""
        with self._cond:
            self.last = Usage()

    def throttled_wait(self, seconds: float) -> None:
        """Wait out Meta's block of ``seconds``, the gate closed for every job sharing this
        governor meanwhile."""
        with self._cond:
            self._holders += 1
            self._cond.notify_all()
        try:
            self.rest(seconds)
        finally:
            with self._cond:
                self._holders -= 1
                if not self._holders:
                    self.last = Usage()
                self._cond.notify_all()

    def pause_for(self) -> float:
        pct = self.last.pct
        if pct <= self.threshold:
            return 0.0
        share = min(1.0, (pct - self.threshold) / max(1.0, 100.0 - self.threshold))
        return round(self.max_pause * share * max(1, self.sharers), 3)

    def before_call(self) -> None:
        with self._cond:
            if self._holders and not self._cancelled.is_set():
                self._waiting += 1
                self._cond.notify_all()
                try:
                    while self._holders and not self._cancelled.is_set():
                        self._cond.wait()
                finally:
                    self._waiting -= 1
                    self._cond.notify_all()
        if self._cancelled.is_set():
            raise Cancelled("the sync run stopped")
        pause = self.pause_for()
        if pause > 0:
            with self._cond:
                self.paused_seconds += pause
            self.rest(pause)

    def rest(self, seconds: float, sleep: Callable[[float], None] | None = None) -> None:
        """Wait ``seconds`` with ``sleep`` (this governor's when None); a real wait
        (``time.sleep``) ends early when the run stops, and the job's next call raises
        Cancelled."""
        sleep = sleep or self.sleep
        if sleep is time.sleep:
            self._cancelled.wait(seconds)
        else:
            sleep(seconds)

    # ---- the runner's side ----------------------------------------------------------------

    def cancel(self) -> None:
        with self._cond:
            self._cancelled.set()
            self._cond.notify_all()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def job_started(self) -> None:
        with self._cond:
            self._active += 1
            self._cond.notify_all()

    def job_finished(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def backing_off(self) -> tuple[int, int]:
        """(jobs in flight, of which waiting out a throttling block or held at its gate)."""
        with self._cond:
            return self._active, self._holders + self._waiting

    def wait_all_backing_off(self, timeout: float) -> tuple[int, int]:
        """Wait until every job in flight waits out a throttling block or is held at its
        gate (or ``timeout`` seconds pass); ``backing_off()`` then."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._holders > 0 and self._holders + self._waiting >= self._active,
                timeout=timeout,
            )
            return self._active, self._holders + self._waiting
