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


class UsageGovernor:
    """Spaces calls out as the usage approaches 100%: no pause below ``threshold`` percent, then
    a pause growing linearly to ``max_pause`` seconds at 100%. Thread-safe; one per client."""

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
        self._lock = threading.Lock()

    def observe(self, headers: Mapping[str, str]) -> None:
        usage = parse_usage(headers)
        if usage is not None:
            with self._lock:
                self.last = usage

    def waited_out(self) -> None:
        """Meta's regain-access wait is over: the reading that came with the throttling error
        no longer holds (pausing for it again would wait twice); the next response brings a
        fresh one."""
        with self._lock:
            self.last = Usage()

    def pause_for(self) -> float:
        pct = self.last.pct
        if pct <= self.threshold:
            return 0.0
        share = min(1.0, (pct - self.threshold) / max(1.0, 100.0 - self.threshold))
        return round(self.max_pause * share, 3)

    def before_call(self) -> None:
        pause = self.pause_for()
        if pause > 0:
            self.paused_seconds += pause
            self.sleep(pause)
