"""Sandbox settings: world size, seed, clock, access tier, app credentials and faults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Tier = Literal["development", "standard"]

DEFAULT_APP_ID = "1234567890"
DEFAULT_APP_SECRET = "sandbox-app-secret-0123456789abcdef"


@dataclass
class FaultConfig:
    """Injected failures. Rates are probabilities in [0, 1], drawn from a seeded sequence."""

    error_500_rate: float = 0.0
    transient_rate: float = 0.0  # HTTP 400, code 1 or 2, is_transient true
    timeout_rate: float = 0.0  # hold the response for timeout_seconds (client read timeout)
    timeout_seconds: float = 30.0
    slow_rate: float = 0.0  # answer correctly after slow_seconds
    slow_seconds: float = 2.0
    truncate_rate: float = 0.0  # a page ends early (fewer rows than limit) yet carries `next`
    async_fail_rate: float = 0.0  # async report runs end in "Job Failed"
    revoke_at: datetime | None = None  # tokens issued before this sandbox time die at it (190/460)
    permission_loss: Literal["", "200", "10"] = ""  # ads calls fail with (#200)/(#10)
    permission_loss_accounts: list[str] = field(default_factory=list)  # empty: every account
    throttle_code: Literal["17", "613"] = "17"  # which error the ad-account score limit returns
    # An ad-account call refused by the score limit (throttle_code) as if the account's other
    # traffic had used its score up, with throttle_seconds of the block left: x-ad-account-usage
    # says 100% and reset_time_duration (seconds). Meta's standard-tier block is 60 s.
    throttle_rate: float = 0.0
    throttle_seconds: float = 60.0
    # A synchronous insights call that pages past this many rows is refused on that page with
    # (#100) subcode 1487534, "reduce the amount of data" (0: never); report jobs are not.
    sync_insights_max_rows: int = 0
    # A report job (async insights) whose answer would have more rows than this ends in "Job
    # Failed", as Meta's do on big accounts (0: never).
    report_max_rows: int = 0
    # A report job stays "Job Running" until this many report jobs of its account ran at once
    # (0: never held): a test of concurrent jobs waits on that event rather than on timing.
    report_hold_concurrency: int = 0
    # The first call of an account made while this many of its report jobs run is refused as
    # throttle_code with throttle_seconds of the block left, once (again after DELETE
    # /_sandbox/reports); 0: never. A test throttles concurrent jobs at a known moment.
    throttle_when_running: int = 0
    # Campaign, ad set and ad ids the listing edges (`act_X/campaigns`, `/adsets`, `/ads` and a
    # campaign's or ad set's own) leave out, as Meta's listing does for a while after an
    # object is created: insights, a GET of the object by id, and the truth still have them.
    unlisted_ids: list[str] = field(default_factory=list)
    # Breakdown cells (age, country, placement, ...: sandbox/breakdowns.py) with fewer
    # impressions than this are hidden, as Meta withholds small cells: a set's rows can sum
    # below the unbroken total. Not a failure, but changeable at run time like one.
    breakdown_hidden_below: int = 5
    # Report jobs with breakdowns whose window starts over 13 months back carry reach only
    # while their account has allowance left: Meta's 10 such jobs per ad account per day (the
    # day here is the UTC one [guess]); past it the rows leave reach out, as a synchronous
    # query's always do. Meta's own limit, changeable at run time like a fault.
    reach_jobs_per_day: int = 10
    # Past the allowance, refuse the report job with Meta's "Reach-related metric breakdowns
    # are unavailable due to rate limit threshold" instead of leaving reach out (Meta's page
    # names both outcomes).
    reach_limit_refuses: bool = False

    def update(self, changes: dict[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown fault setting: {key}")
            if key == "revoke_at" and isinstance(value, str):
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            setattr(self, key, value)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.revoke_at is not None:
            data["revoke_at"] = self.revoke_at.isoformat()
        return data


@dataclass
class SandboxConfig:
    seed: int = 42
    accounts: int = 4
    campaigns: int = 5  # per account
    adsets_per_campaign: int = 3
    ads_per_adset: int = 4
    days: int = 90  # history generated before the initial "now"
    tier: Tier = "development"
    clock: datetime | None = None  # initial sandbox time; None = the real time
    frozen_clock: bool = False  # True: time stands still until moved through /_sandbox/clock
    app_id: str = DEFAULT_APP_ID
    app_secret: str = DEFAULT_APP_SECRET
    app_name: str = "metricx sandbox app"
    code_token_ttl: int = 7200  # code exchange -> short-lived token (seconds)
    long_lived_ttl: int = 5183944  # fb_exchange_token -> ~60 days
    async_polls_to_complete: int = 4  # status polls before "Job Completed"
    buc_insights_quota: int | None = None  # per account per hour; None = Meta's formula
    buc_management_quota: int | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
