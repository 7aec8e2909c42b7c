"""Insights parameters and the async report poll loop (META_API.md §4-5)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from metricx.integrations.meta.errors import TransientError
from metricx.integrations.meta.transport import GraphTransport
from metricx.logging import get_logger

log = get_logger("metricx.meta")
REPORT_FIELDS = (
    "id",
    "async_status",
    "async_percent_completion",
    "error_code",
    "error_message",
    "error_subcode",
    "error_user_msg",
)


class ReportFailedError(TransientError):
    """An async report job ended in "Job Failed" / "Job Skipped" or never finished: submit a
    new one (Meta: "Please resubmit your job")."""

    kind = "report_failed"


def build_params(
    *,
    level: str,
    fields: Sequence[str],
    time_range: dict[str, str] | None = None,
    date_preset: str | None = None,
    time_increment: int | str | None = None,
    breakdowns: Sequence[str] | None = None,
    action_breakdowns: Sequence[str] | None = None,
    filtering: list[dict[str, Any]] | None = None,
    action_attribution_windows: Sequence[str] | None = None,
    page_size: int = 500,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"level": level, "fields": ",".join(fields), "limit": page_size}
    if time_range is not None:
        params["time_range"] = json.dumps(time_range)
    if date_preset is not None:
        params["date_preset"] = date_preset
    if time_increment is not None:
        params["time_increment"] = str(time_increment)
    if breakdowns:
        params["breakdowns"] = ",".join(breakdowns)
    if action_breakdowns:
        params["action_breakdowns"] = ",".join(action_breakdowns)
    if filtering:
        params["filtering"] = json.dumps(filtering)
    if action_attribution_windows:
        params["action_attribution_windows"] = json.dumps(list(action_attribution_windows))
    params.update(extra or {})
    return params


def is_complete(status: dict[str, Any]) -> bool:
    """Meta reports 100% while still "Job Running": both must hold."""
    try:
        pct = float(status.get("async_percent_completion") or 0)
    except (TypeError, ValueError):
        pct = 0.0
    return status.get("async_status") == "Job Completed" and pct >= 100


def wait_for_report(
    transport: GraphTransport,
    report_run_id: str,
    *,
    first_poll: float,
    max_poll: float,
    timeout: float,
) -> dict[str, Any]:
    waited = 0.0
    interval = first_poll
    while True:
        status = transport.request("GET", (report_run_id,), {"fields": ",".join(REPORT_FIELDS)})
        state = status.get("async_status")
        if is_complete(status):
            return status
        if state in ("Job Failed", "Job Skipped"):
            detail = status.get("error_user_msg") or status.get("error_message") or ""
            raise ReportFailedError(
                f"Meta's report job {state.lower().removeprefix('job ')}"
                + (f": {transport.scrub(str(detail))}" if detail else "")
            )
        if waited >= timeout:
            raise ReportFailedError(
                f"Meta's report job did not finish within {int(timeout)} s (last: {state})"
            )
        transport.governor.rest(interval, transport.sleep)  # ends early when the run stops
        waited += interval
        interval = min(max_poll, interval * 2)
