"""The running sandbox's mutable state: clock, world, limits, faults, jobs, revocations."""

from __future__ import annotations

import copy
import threading

from metricx.sandbox.async_reports import ReportRegistry
from metricx.sandbox.clock import SandboxClock
from metricx.sandbox.config import SandboxConfig
from metricx.sandbox.faults import FaultInjector
from metricx.sandbox.generator import World
from metricx.sandbox.limits import RateLimiter
from metricx.sandbox.tokens import ALL_SCOPES, mint_user_token


class SandboxState:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = SandboxClock(config.clock, frozen=config.frozen_clock)
        self.world = World(config, self.clock.now())
        self.faults = FaultInjector(config.seed, copy.deepcopy(config.faults))
        self.limiter = RateLimiter(
            config.tier, config.buc_insights_quota, config.buc_management_quota
        )
        self.reports = ReportRegistry(self.world, config.async_polls_to_complete)
        self.revoked: dict[str, int] = {}  # token nonce -> 190 subcode
        self.used_codes: set[str] = set()
        self.lock = threading.Lock()

    def reset(self) -> None:
        """Back to the start: clock, limits, faults, jobs, revocations (the world stays)."""
        if self.config.clock is not None:
            self.clock.set(self.config.clock, frozen=self.config.frozen_clock)
        self.faults.replace(copy.deepcopy(self.config.faults))
        self.limiter.tier = self.config.tier
        self.limiter.reset()
        self.reports.reset()
        with self.lock:
            self.revoked.clear()
            self.used_codes.clear()

    def mint_token(
        self, ttl: int | None = None, scopes: tuple[str, ...] = ALL_SCOPES, kind: str = "long"
    ) -> str:
        return mint_user_token(
            self.config.seed,
            user_id=self.world.user_id,
            app_id=self.config.app_id,
            scopes=scopes,
            issued_at=int(self.clock.timestamp()),
            ttl=self.config.long_lived_ttl if ttl is None else ttl,
            kind=kind,
        )
