"""The web app's door into metrics syncs (the sync domain owns them): ask for a sync now or a
backfill from a date, and read a running sync's progress from its checkpoint."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.models import Connection, Fetch
from metricx.sync import plan
from metricx.sync import service as sync_service


def request_sync(
    session: Session, *, settings: Settings, connection: Connection, since: date | None = None
) -> Fetch:
    """Queue a metrics sync of the connection (from ``since``: a backfill)."""
    return sync_service.request_sync(session, settings=settings, connection=connection, since=since)


def progress(checkpoint: dict[str, Any] | None) -> tuple[float | None, int]:
    """(share of chunks done, rows read so far) of a sync's checkpoint."""
    if not checkpoint or not checkpoint.get("chunks"):
        return None, 0
    t = plan.totals(checkpoint)
    return (t["done"] + t["failed"]) / t["chunks"], t["rows"]
