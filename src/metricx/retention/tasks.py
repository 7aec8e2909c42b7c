"""The retention job: plan, then one unit of work per month and table."""

from __future__ import annotations

from typing import Any

from metricx.creatives import repository as creatives
from metricx.creatives import thumbnails
from metricx.db import unit_of_work
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger
from metricx.retention import service
from metricx.runtime import Runtime

log = get_logger("metricx.retention")
THUMBNAIL_GRACE = 24 * 3600.0  # a copy younger than this may be a sync's, not yet named


def run_retention(runtime: Runtime) -> dict[str, Any]:
    """Archive everything past retention now, and remove thumbnail copies nothing names. A
    failed step is logged and left for the next run; the others go on."""
    with unit_of_work(runtime.sessions) as session:
        steps = service.plan(session, settings=runtime.settings)
    archived: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for step in steps:
        try:
            with unit_of_work(runtime.sessions) as session:
                rows = service.apply(session, settings=runtime.settings, step=step)
                archived += [
                    {
                        "facts": step.facts,
                        "month": str(r.month),
                        "granularity": r.granularity,
                        "source": r.source,
                        "method": r.method,
                        "rows": r.rows,
                        "path": r.path,
                    }
                    for r in rows
                ]
        except Exception as exc:
            log.error("archive step failed", table=step.table, month=str(step.month), exc_info=exc)
            failed.append({"table": step.table, "month": str(step.month), "error": str(exc)})
    with unit_of_work(runtime.sessions) as session:
        referenced = creatives.referenced_thumbnails(session)
    # Copies no creative names any more (a deleted workspace's, a replaced image's).
    pruned = thumbnails.prune(runtime.settings, referenced, grace_seconds=THUMBNAIL_GRACE)
    if pruned:
        log.info("thumbnail copies removed", count=len(pruned))
    return {"archived": archived, "failed": failed, "thumbnails_removed": len(pruned)}


def enforce_retention(timestamp: int) -> dict[str, Any]:
    """Periodic (daily): archive facts past their granularity's retention."""
    out = run_retention(current_runtime())
    log.info("retention enforced", scheduled_at=timestamp, archived=len(out["archived"]))
    return out
