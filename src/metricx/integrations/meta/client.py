"""MetaAdsClient: ad accounts, campaigns, ad sets, ads and insights of one token.

One client per token and job (never shared across threads): it owns one SDK session
(`FacebookAdsApi(FacebookSession(...))`, never the process-global `init()`), so the crash
reporter and the global default API are never involved. Every method streams: edges are
generators over pages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from metricx.config import Settings
from metricx.integrations.meta import insights
from metricx.integrations.meta.transport import CallStats, GraphTransport, TransportOptions
from metricx.kit.crypto import Secret

ACCOUNT_FIELDS = (
    "id",
    "account_id",
    "name",
    "currency",
    "timezone_name",
    "timezone_offset_hours_utc",
    "account_status",
    "disable_reason",
)
CAMPAIGN_FIELDS = (
    "id",
    "name",
    "objective",
    "status",
    "effective_status",
    "created_time",
    "updated_time",
)
ADSET_FIELDS = (
    "id",
    "name",
    "campaign_id",
    "status",
    "effective_status",
    "optimization_goal",
    "created_time",
    "updated_time",
    "promoted_object",
    "attribution_spec",
)
AD_FIELDS = (
    "id",
    "name",
    "adset_id",
    "campaign_id",
    "status",
    "effective_status",
    "created_time",
    "updated_time",
    "creative",
)
# Every effective_status Meta knows: naming them lifts the default hiding of DELETED/ARCHIVED.
ALL_EFFECTIVE_STATUSES = (
    "ACTIVE",
    "PAUSED",
    "DELETED",
    "ARCHIVED",
    "IN_PROCESS",
    "WITH_ISSUES",
    "CAMPAIGN_PAUSED",
    "ADSET_PAUSED",
    "DISAPPROVED",
    "PENDING_REVIEW",
    "PREAPPROVED",
    "PENDING_BILLING_INFO",
)


@dataclass(frozen=True)
class AdAccountInfo:
    id: str  # act_N
    account_id: str  # N
    name: str
    currency: str
    timezone: str
    account_status: int | None

    @classmethod
    def from_graph(cls, row: dict[str, Any]) -> AdAccountInfo:
        raw_id = str(row["id"])
        status = row.get("account_status")
        return cls(
            id=raw_id if raw_id.startswith("act_") else f"act_{raw_id}",
            account_id=str(row.get("account_id") or raw_id.removeprefix("act_")),
            name=str(row.get("name") or raw_id),
            currency=str(row.get("currency") or "USD"),
            timezone=str(row.get("timezone_name") or "UTC"),
            account_status=int(status) if status is not None else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "currency": self.currency,
            "timezone": self.timezone,
            "account_status": self.account_status,
        }


def options_from_settings(settings: Settings) -> TransportOptions:
    return TransportOptions(
        graph_url=settings.meta_graph_url,
        api_version=settings.meta_api_version,
        connect_timeout=settings.meta_connect_timeout_seconds,
        read_timeout=settings.meta_read_timeout_seconds,
        max_retries=settings.meta_max_retries,
        backoff_base=settings.meta_backoff_base_seconds,
        backoff_max=settings.meta_backoff_max_seconds,
        max_throttle_wait=settings.meta_max_throttle_wait_seconds,
        slowdown_pct=settings.meta_slowdown_usage_pct,
        slowdown_max=settings.meta_slowdown_max_seconds,
    )


def act_id(account_id: str) -> str:
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


class MetaAdsClient:
    def __init__(self, transport: GraphTransport, *, page_size: int = 1000) -> None:
        self.transport = transport
        self.page_size = page_size
        self.async_poll_timeout = 3600.0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        access_token: str | Secret,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> MetaAdsClient:
        token = access_token.reveal() if isinstance(access_token, Secret) else access_token
        secret = settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else None
        transport = GraphTransport(
            options_from_settings(settings),
            app_id=settings.meta_app_id,
            app_secret=secret,
            access_token=token,
            sleep=sleep,
        )
        client = cls(transport, page_size=settings.meta_entity_page_size)
        client.async_poll_timeout = settings.meta_async_poll_timeout_seconds
        return client

    @property
    def stats(self) -> CallStats:
        return self.transport.stats

    # ---- the user and ad accounts -----------------------------------------------------------

    def get_me(self) -> dict[str, Any]:
        return self.transport.request("GET", ("me",), {"fields": "id,name"})

    def granted_permissions(self) -> list[str]:
        body = self.transport.request("GET", ("me", "permissions"))
        return sorted(
            str(p.get("permission"))
            for p in body.get("data", [])
            if isinstance(p, dict) and p.get("status") == "granted"
        )

    def iter_ad_accounts(self) -> Iterator[AdAccountInfo]:
        """The token user's ad accounts (/me/adaccounts)."""
        params = {"fields": ",".join(ACCOUNT_FIELDS), "limit": 200}
        for page in self.transport.pages(("me", "adaccounts"), params):
            for row in page:
                yield AdAccountInfo.from_graph(row)

    def get_ad_account(self, account_id: str) -> AdAccountInfo:
        row = self.transport.request(
            "GET", (act_id(account_id),), {"fields": ",".join(ACCOUNT_FIELDS)}
        )
        return AdAccountInfo.from_graph(row)

    # ---- the ad hierarchy (account-level edges: one paged call per level) --------------------

    def iter_edge(
        self,
        node_id: str,
        edge: str,
        fields: Sequence[str],
        *,
        include_deleted: bool = True,
        filtering: list[dict[str, Any]] | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "fields": ",".join(fields),
            "limit": page_size or self.page_size,
        }
        if include_deleted:
            params["effective_status"] = json.dumps(list(ALL_EFFECTIVE_STATUSES))
        if filtering:
            params["filtering"] = json.dumps(filtering)
        for page in self.transport.pages((node_id, edge), params):
            yield from page

    def iter_campaigns(
        self, account_id: str, *, include_deleted: bool = True
    ) -> Iterator[dict[str, Any]]:
        return self.iter_edge(
            act_id(account_id), "campaigns", CAMPAIGN_FIELDS, include_deleted=include_deleted
        )

    def iter_adsets(
        self, account_id: str, *, include_deleted: bool = True
    ) -> Iterator[dict[str, Any]]:
        return self.iter_edge(
            act_id(account_id), "adsets", ADSET_FIELDS, include_deleted=include_deleted
        )

    def iter_ads(
        self, account_id: str, *, include_deleted: bool = True
    ) -> Iterator[dict[str, Any]]:
        return self.iter_edge(act_id(account_id), "ads", AD_FIELDS, include_deleted=include_deleted)

    # ---- insights ---------------------------------------------------------------------------

    def get_insights(
        self, object_id: str, *, level: str, fields: Sequence[str], **options: Any
    ) -> Iterator[dict[str, Any]]:
        """Synchronous insights rows, page by page. Options: time_range={"since","until"},
        date_preset, time_increment, breakdowns, action_breakdowns, filtering,
        action_attribution_windows, page_size, extra (any other Graph parameter)."""
        params = insights.build_params(level=level, fields=fields, **options)
        for page in self.transport.pages((object_id, "insights"), params):
            yield from page

    def start_async_insights(
        self, object_id: str, *, level: str, fields: Sequence[str], **options: Any
    ) -> str:
        """POST an async report job; returns its report_run_id."""
        params = insights.build_params(level=level, fields=fields, **options)
        params.pop("limit", None)
        body = self.transport.request("POST", (object_id, "insights"), params)
        run_id = body.get("report_run_id") or body.get("id")
        if not run_id:
            raise insights.ReportFailedError("Meta did not return a report_run_id")
        return str(run_id)

    def wait_for_report(
        self,
        report_run_id: str,
        *,
        first_poll: float = 2.0,
        max_poll: float = 30.0,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Poll until "Job Completed" AND 100%; the final status object."""
        return insights.wait_for_report(
            self.transport,
            report_run_id,
            first_poll=first_poll,
            max_poll=max_poll,
            timeout=timeout if timeout is not None else self.async_poll_timeout,
        )

    def iter_report_results(
        self, report_run_id: str, *, page_size: int = 500
    ) -> Iterator[dict[str, Any]]:
        for page in self.transport.pages((report_run_id, "insights"), {"limit": page_size}):
            yield from page

    def get_insights_async(
        self, object_id: str, *, level: str, fields: Sequence[str], **options: Any
    ) -> Iterator[dict[str, Any]]:
        """Start a report job, wait for it, stream its rows."""
        page_size = int(options.get("page_size") or 500)
        run_id = self.start_async_insights(object_id, level=level, fields=fields, **options)
        self.wait_for_report(run_id)
        yield from self.iter_report_results(run_id, page_size=page_size)
