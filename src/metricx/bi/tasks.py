"""The periodic day-file export (optional: only when METRICX_EXPORT_DIR is set)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from metricx.bi.export import refresh_folder
from metricx.db import unit_of_work
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger
from metricx.runtime import Runtime

log = get_logger("metricx.bi")


def refresh_export(runtime: Runtime, now: datetime | None = None) -> dict[str, Any]:
    settings = runtime.settings
    if settings.export_dir is None:
        return {"enabled": False}
    today = (now or datetime.now(UTC)).date()
    # A read-only transaction: the export writes files, never rows.
    with unit_of_work(runtime.sessions) as session:
        summary = refresh_folder(
            session,
            folder=settings.export_dir,
            fmt=settings.export_format,
            lookback_days=settings.sync_lookback_days_daily,
            today=today,
        )
    return {
        "enabled": True,
        "written": len(summary.written),
        "unchanged": len(summary.unchanged),
        "kept": len(summary.kept),
        "rows": summary.rows,
    }


def export_day_files(timestamp: int) -> dict[str, Any]:
    """Periodic (hourly): day files of every workspace in METRICX_EXPORT_DIR."""
    out = refresh_export(current_runtime())
    if out["enabled"]:
        log.info(
            "day files exported",
            scheduled_at=timestamp,
            **{k: v for k, v in out.items() if k != "enabled"},
        )
    return out
