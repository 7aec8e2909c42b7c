from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metricx.kit.inputs import IsoDate
from metricx.sync.checkpoints import parse_sync


class SyncRequest(BaseModel):
    """Optional range (the ad account's local dates, inclusive): a backfill."""

    since: IsoDate | None = Field(default=None, description="First day to load (a backfill).")
    until: IsoDate | None = Field(default=None, description="Last day to load (default: today).")


class ImportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    fetch_id: uuid.UUID | None
    source: str
    status: str
    received: int
    inserted: int
    updated: int
    unchanged: int
    failed: int
    duration_ms: int | None
    created_at: datetime
    finished_at: datetime | None


class ImportList(BaseModel):
    imports: list[ImportRead]


def fetch_summary(row: Any) -> dict[str, Any]:
    """A fetch as the CLI prints it."""
    return {
        "id": str(row.id),
        "connection_id": str(row.connection_id),
        "kind": row.kind,
        "status": row.status.value,
        "window_start": row.window_start.isoformat() if row.window_start else None,
        "window_end": row.window_end.isoformat() if row.window_end else None,
        "calls": row.calls,
        "async_jobs": row.async_jobs,
        "rows": row.rows,
        "revised": row.revised,
        "duration_ms": row.duration_ms,
        "error": row.error,
        "error_code": row.error_code,
        "chunks": parse_sync(row.checkpoint).totals if row.kind != "entities" else None,
    }
