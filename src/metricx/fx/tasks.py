"""The periodic fetch of the operator's exchange rates from ``METRICX_FX_URL``."""

from __future__ import annotations

from typing import Any

from metricx.db import unit_of_work
from metricx.fx import service
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger
from metricx.runtime import Runtime

log = get_logger("metricx.fx")


def refresh_rates(runtime: Runtime) -> dict[str, Any]:
    """Fetch and store the feed's rates; nothing when no URL is configured. A failed fetch
    (unreachable, malformed) is logged and stores nothing; the next run tries again."""
    url = runtime.settings.fx_url
    if not url:
        return {"fetched": False, "reason": "METRICX_FX_URL is not set"}
    try:
        with unit_of_work(runtime.sessions) as session:
            loaded = service.fetch_and_store(
                session,
                url,
                timeout=runtime.settings.fx_timeout_seconds,
                carry_days=runtime.settings.fx_carry_forward_days,
            )
    except Exception as exc:
        log.warning("exchange-rate fetch failed", url=url, error=str(exc))
        return {"fetched": False, "reason": str(exc)}
    log.info(
        "exchange rates fetched",
        rates=loaded.rates,
        changed=loaded.changed,
        last_day=str(loaded.last_day),
    )
    return {"fetched": True, "rates": loaded.rates, "changed": loaded.changed}


def fetch_exchange_rates(timestamp: int) -> dict[str, Any]:
    """Periodic (hourly): the operator's rates from METRICX_FX_URL, when set."""
    return refresh_rates(current_runtime())
