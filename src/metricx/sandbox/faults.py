"""Faults on demand, drawn from a seeded sequence so a run can be replayed."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime

from metricx.sandbox import errors
from metricx.sandbox.config import FaultConfig
from metricx.sandbox.errors import GraphError
from metricx.sandbox.hashing import mix, text_key, unit
from metricx.sandbox.tokens import TokenInfo


class FaultInjector:
    def __init__(self, seed: int, config: FaultConfig) -> None:
        self.seed = seed
        self.config = config
        self._lock = threading.Lock()
        self._counters: dict[str, itertools.count[int]] = {}

    def _draw(self, kind: str, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            n = next(self._counters.setdefault(kind, itertools.count()))
        return unit(mix(self.seed, text_key(kind), n)) < rate

    def replace(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._counters.clear()

    def delay(self) -> float:
        """Seconds to hold the response before answering (timeouts and slow responses)."""
        if self._draw("timeout", self.config.timeout_rate):
            return self.config.timeout_seconds
        if self._draw("slow", self.config.slow_rate):
            return self.config.slow_seconds
        return 0.0

    def request_error(self) -> GraphError | None:
        if self._draw("500", self.config.error_500_rate):
            return errors.server_error()
        if self._draw("transient", self.config.transient_rate):
            flip = self._draw("transient-kind", 0.5)
            return errors.service_unavailable() if flip else errors.unknown_error()
        return None

    def permission_error(self, account_id: str) -> GraphError | None:
        mode = self.config.permission_loss
        scoped = self.config.permission_loss_accounts
        if not mode or (
            scoped
            and account_id not in scoped
            and account_id.removeprefix("act_") not in scoped
            and f"act_{account_id}" not in scoped
        ):
            return None
        return errors.permission_missing_200() if mode == "200" else errors.permission_denied_10()

    def revoked_by_schedule(self, info: TokenInfo, now: datetime) -> bool:
        at = self.config.revoke_at
        return at is not None and now >= at and info.issued_at < at.timestamp()

    def throttles(self) -> bool:
        return self._draw("throttle", self.config.throttle_rate)

    def truncate(self) -> bool:
        return self._draw("truncate", self.config.truncate_rate)

    def async_fails(self) -> bool:
        return self._draw("async", self.config.async_fail_rate)
