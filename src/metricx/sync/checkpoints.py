"""A fetch's checkpoint (the ``fetches.checkpoint`` JSON column), typed: one model per kind of
fetch, parsed when read and dumped when written here and nowhere else.

- ``SyncCheckpoint``: a metrics sync's plan (backfill, sync, gap_fill): its chunks with each
  one's state, the runs that worked on it, the lookback it re-read and the totals at its end.
  Written after every chunk in its own transaction: a worker that dies mid-backfill leaves the
  finished chunks ``done`` and the next run goes on with the first chunk still pending.
- ``EntityCheckpoint``: an entity sync's counts (created, updated, unchanged, removed, per
  level), its retries and throttled time, its duration.

Every checkpoint written carries ``version`` (now 2). A checkpoint written before versions
(no ``version`` key, or the metrics sync's ``version: 1``) has the same keys, so it is read
into the same models; keys a model does not know are ignored.

    {"version": 2, "kind": "backfill", "lookback": null, "totals": null,
     "chunks": [{"part": "ad_day", "since": "2026-01-01", "until": "2026-01-31",
                 "status": "done", "attempts": 1, "rows": 31000, "inserted": 30990,
                 "revised": 10, "refused": 0, "error": null,
                 "fetch_started": "...", "fetch_finished": "...",
                 "write_started": "...", "write_finished": "..."}, ...],
     "runs": [{"started": "...", "finished": "..."}]}
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from metricx.models import Fetch

VERSION = 2
Part = Literal["entities", "ad_day", "ad_hour", "reach", "reach_ranges", "breakdown"]
ChunkStatus = Literal["pending", "done", "failed"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class ChunkState(_Model):
    """One chunk of a sync's plan: a part over a window of local dates, and how it went."""

    part: Part
    since: date | None = None
    until: date | None = None
    # The campaigns (external ids) an ad-level chunk asks for, once a one-day chunk was split
    # by campaigns after Meta failed its report job; None: the whole account.
    campaigns: list[str] | None = None
    # A breakdown chunk's set (metricx.facts.breakdowns.BREAKDOWN_SETS: "age_gender", ...).
    breakdown: str | None = None
    status: ChunkStatus = "pending"
    attempts: int = 0
    rows: int = 0
    inserted: int = 0
    revised: int = 0
    deleted: int = 0  # breakdown chunks: stored rows Meta no longer returns, removed
    refused: int | None = None
    error: str | None = None
    # The last attempt: every page fetched from Meta (no transaction open), then written.
    fetch_started: datetime | None = None
    fetch_finished: datetime | None = None
    write_started: datetime | None = None
    write_finished: datetime | None = None


class RunSpan(_Model):
    """One run of the sync job over the plan (a run re-scheduled or killed leaves it open)."""

    started: datetime
    finished: datetime | None = None


class SyncCheckpoint(_Model):
    version: int = VERSION
    kind: str = "sync"
    chunks: list[ChunkState] = Field(default_factory=list)
    runs: list[RunSpan] = Field(default_factory=list)
    lookback: Literal["full", "short"] | None = None  # an incremental sync's pass
    totals: dict[str, int] | None = None  # at the end of the last run


class EntityCheckpoint(_Model):
    version: int = VERSION
    kind: Literal["entities"] = "entities"
    created: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    removed: int | None = None
    by_level: dict[str, dict[str, int]] | None = None
    retries: int | None = None
    throttled_seconds: float | None = None
    duration_ms: int | None = None


def parse_sync(raw: dict[str, Any] | None, *, kind: str = "sync") -> SyncCheckpoint:
    """A metrics sync's checkpoint as stored, any version."""
    data = dict(raw or {})
    data.setdefault("kind", kind)
    data["version"] = VERSION  # the older shapes have the same keys
    return SyncCheckpoint.model_validate(data)


def parse_entities(raw: dict[str, Any] | None) -> EntityCheckpoint:
    """An entity sync's checkpoint as stored, any version."""
    data = {k: v for k, v in (raw or {}).items() if k not in ("version", "kind")}
    return EntityCheckpoint.model_validate(data)


def dump(checkpoint: SyncCheckpoint | EntityCheckpoint) -> dict[str, Any]:
    """The JSON stored in the column."""
    if isinstance(checkpoint, EntityCheckpoint):
        return checkpoint.model_dump(mode="json", exclude_none=True)
    return checkpoint.model_dump(mode="json")


def sync_of(fetch: Fetch) -> SyncCheckpoint:
    return parse_sync(fetch.checkpoint, kind=fetch.kind)


def entities_of(fetch: Fetch) -> EntityCheckpoint:
    return parse_entities(fetch.checkpoint)


def store(fetch: Fetch, checkpoint: SyncCheckpoint | EntityCheckpoint) -> None:
    """Write ``checkpoint`` to ``fetch`` (a new JSON object: SQLAlchemy sees the change)."""
    fetch.checkpoint = dump(checkpoint)
