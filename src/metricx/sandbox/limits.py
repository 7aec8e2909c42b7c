"""Per-ad-account usage scores and Business Use Case quotas (META_API.md §7).

API-level score: read 1 point, write 3; it decays linearly over 300 s. Development tier: max 60,
blocked 300 s when reached; standard tier: max 9000, blocked 60 s. Errors 17/2446079 (or
613/1487742). BUC hourly quotas per account: ads_insights (600 dev | 190000 std) + 400 x active
ads, ads_management (300 | 100000) + 40 x active ads; errors 80000 / 80004 with subcode 2446079.
The throttle fault refuses a call with the score error as if the account's other traffic had used
the score up (the score is per ad account, whichever app calls).
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from dataclasses import dataclass, field

from metricx.sandbox import errors
from metricx.sandbox.errors import GraphError
from metricx.sandbox.generator import Account

TIERS: dict[str, tuple[int, int, int]] = {  # max score, decay seconds, block seconds
    "development": (60, 300, 300),
    "standard": (9000, 300, 60),
}
TIER_NAMES = {"development": "development_access", "standard": "standard_access"}
BUC_BASE = {
    "development": {"ads_insights": 600, "ads_management": 300},
    "standard": {"ads_insights": 190000, "ads_management": 100000},
}
BUC_PER_AD = {"ads_insights": 400, "ads_management": 40}
APP_HOURLY_BUDGET = 200 * 100  # x-app-usage only informs; Marketing calls are exempt


@dataclass
class AccountUsage:
    score: float = 0.0
    updated: float = 0.0
    blocked_until: float = 0.0
    block_code: str = ""
    calls: dict[str, deque[float]] = field(
        default_factory=lambda: {"ads_insights": deque(), "ads_management": deque()}
    )


class RateLimiter:
    def __init__(
        self, tier: str, insights_quota: int | None = None, management_quota: int | None = None
    ) -> None:
        self.tier = tier
        self.quota_override = {"ads_insights": insights_quota, "ads_management": management_quota}
        self._lock = threading.Lock()
        self._usage: dict[str, AccountUsage] = {}
        self._app_calls: deque[float] = deque()

    def reset(self) -> None:
        with self._lock:
            self._usage.clear()
            self._app_calls.clear()

    def quota(self, account: Account, kind: str) -> int:
        override = self.quota_override[kind]
        if override is not None:
            return override
        active = sum(1 for ad in account.ads if ad.effective_status == "ACTIVE")
        return BUC_BASE[self.tier][kind] + BUC_PER_AD[kind] * active

    def _decay(self, usage: AccountUsage, now: float) -> None:
        max_score, decay, _ = TIERS[self.tier]
        if usage.updated:
            usage.score = max(0.0, usage.score - (now - usage.updated) * max_score / decay)
        usage.updated = now
        for calls in usage.calls.values():
            while calls and calls[0] <= now - 3600:
                calls.popleft()

    def record_app_call(self, now: float) -> None:
        with self._lock:
            self._app_calls.append(now)
            while self._app_calls and self._app_calls[0] <= now - 3600:
                self._app_calls.popleft()

    def charge(
        self, account: Account, kind: str, write: bool, now: float, throttle_code: str = "17"
    ) -> GraphError | None:
        """Count one call; return the throttling error when the account is over its limits."""
        max_score, _, block = TIERS[self.tier]
        with self._lock:
            usage = self._usage.setdefault(account.account_id, AccountUsage())
            self._decay(usage, now)
            if now < usage.blocked_until:
                return self._score_error(usage.block_code)
            calls = usage.calls[kind]
            if len(calls) >= self.quota(account, kind):
                return errors.buc_limit(80000 if kind == "ads_insights" else 80004)
            cost = 3 if write else 1
            if usage.score + cost > max_score:
                usage.blocked_until = now + block
                usage.block_code = throttle_code
                usage.score = float(max_score)
                return self._score_error(throttle_code)
            usage.score += cost
            calls.append(now)
            return None

    @staticmethod
    def _score_error(code: str) -> GraphError:
        return errors.custom_rate_limit() if code == "613" else errors.user_request_limit()

    def injected_block(self, code: str, seconds: float) -> GraphError:
        """The score limit's error with ``seconds`` of the block left: the ad-account headers
        at 100% with that reset_time_duration (seconds). The BUC quotas were not what ran out,
        so x-business-use-case-usage keeps reporting them as they are."""
        err = self._score_error(code)
        tier = TIER_NAMES[self.tier]
        err.headers = {
            "x-ad-account-usage": json.dumps(
                {
                    "acc_id_util_pct": 100,
                    "reset_time_duration": math.ceil(seconds),
                    "ads_api_access_tier": tier,
                }
            ),
            "x-fb-ads-insights-throttle": json.dumps(
                {
                    "app_id_util_pct": self._app_pct(),
                    "acc_id_util_pct": 100,
                    "ads_api_access_tier": tier,
                }
            ),
        }
        return err

    def _app_pct(self) -> int:
        with self._lock:
            return min(100, len(self._app_calls) * 100 // APP_HOURLY_BUDGET)

    def snapshot(self, account: Account, now: float) -> dict[str, object]:
        max_score, decay, _ = TIERS[self.tier]
        with self._lock:
            usage = self._usage.setdefault(account.account_id, AccountUsage())
            self._decay(usage, now)
            blocked = max(0.0, usage.blocked_until - now)
            return {
                "score": usage.score,
                "max_score": max_score,
                "blocked_seconds": blocked,
                "acc_pct": round(usage.score * 100 / max_score, 2),
                "reset": math.ceil(blocked or usage.score * decay / max_score),
                "buc": {
                    kind: (len(calls), self.quota(account, kind), calls[0] if calls else now)
                    for kind, calls in usage.calls.items()
                },
            }

    def headers(self, account: Account | None, now: float) -> dict[str, str]:
        tier = TIER_NAMES[self.tier]
        app_pct = self._app_pct()
        out = {
            "x-app-usage": json.dumps(
                {"call_count": app_pct, "total_time": app_pct // 2, "total_cputime": app_pct // 3}
            )
        }
        if account is None:
            return out
        snap = self.snapshot(account, now)
        blocked = float(snap["blocked_seconds"])  # type: ignore[arg-type]
        acc_pct = snap["acc_pct"]
        entries = []
        buc: dict[str, tuple[int, int, float]] = snap["buc"]  # type: ignore[assignment]
        for kind, (count, quota, oldest) in buc.items():
            pct = min(100, count * 100 // max(quota, 1))
            wait = blocked
            if count >= quota:
                pct, wait = 100, max(wait, oldest + 3600 - now)
            if blocked:
                pct = 100
            entries.append(
                {
                    "type": kind,
                    "call_count": pct,
                    "total_cputime": pct // 4,
                    "total_time": pct // 4,
                    "estimated_time_to_regain_access": math.ceil(wait / 60),
                    "ads_api_access_tier": tier,
                }
            )
        out["x-business-use-case-usage"] = json.dumps({account.account_id: entries})
        out["x-ad-account-usage"] = json.dumps(
            {
                "acc_id_util_pct": acc_pct,
                "reset_time_duration": snap["reset"],
                "ads_api_access_tier": tier,
            }
        )
        out["x-fb-ads-insights-throttle"] = json.dumps(
            {"app_id_util_pct": app_pct, "acc_id_util_pct": acc_pct, "ads_api_access_tier": tier}
        )
        return out
