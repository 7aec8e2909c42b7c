"""A sync's plan: the window split into chunks, stored as the fetch's checkpoint.

The checkpoint is the plan plus each chunk's state, written after every chunk in its own
transaction. A worker that dies mid-backfill leaves the finished chunks marked `done`; the next
run skips them and goes on with the first chunk not done: never from zero, never with a gap.

    {"version": 1, "kind": "backfill", "chunks": [
        {"part": "ad_day", "since": "2026-01-01", "until": "2026-01-31", "status": "done",
         "attempts": 1, "rows": 31000, "inserted": 30990, "revised": 10, "error": null}, ...],
     "runs": [{"started": "...", "finished": "..."}]}

Parts: `entities` (refresh campaigns/ad sets/ads first), `ad_day`, `ad_hour` (ad-level facts),
`reach` (account/campaign/ad set daily reach).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from metricx.config import Settings

PARTS = ("entities", "ad_day", "ad_hour", "reach")
PENDING, DONE, FAILED = "pending", "done", "failed"


@dataclass(frozen=True)
class Window:
    since: date
    until: date

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


def split(window: Window, days: int) -> Iterator[Window]:
    """Consecutive windows of at most ``days`` days covering ``window``, oldest first."""
    cur = window.since
    while cur <= window.until:
        end = min(window.until, cur + timedelta(days=max(1, days) - 1))
        yield Window(cur, end)
        cur = end + timedelta(days=1)


def chunk(part: str, window: Window | None) -> dict[str, Any]:
    return {
        "part": part,
        "since": window.since.isoformat() if window else None,
        "until": window.until.isoformat() if window else None,
        "status": PENDING,
        "attempts": 0,
        "rows": 0,
        "inserted": 0,
        "revised": 0,
        "error": None,
    }


def backfill_plan(
    settings: Settings, window: Window, *, hourly: bool = True, daily: bool = True
) -> list[dict[str, Any]]:
    """Daily chunks (ad facts + reach) and hourly chunks, interleaved oldest first so a
    partial backfill covers a contiguous stretch of history at both granularities."""
    parts: list[tuple[date, int, dict[str, Any]]] = []
    if daily:
        for w in split(window, settings.sync_chunk_days_daily):
            parts.append((w.since, 0, chunk("ad_day", w)))
            parts.append((w.since, 1, chunk("reach", w)))
    if hourly:
        for w in split(window, settings.sync_chunk_days_hourly):
            parts.append((w.since, 2, chunk("ad_hour", w)))
    parts.sort(key=lambda p: (p[0], p[1]))
    return [p[2] for p in parts]


def incremental_plan(
    settings: Settings, today: date, *, full: bool = True
) -> tuple[Window, list[dict[str, Any]]]:
    """The lookback windows a sync re-reads. The daily pass (``full``) re-reads the whole
    daily lookback (late conversions land for weeks); the hourly syncs between re-read the
    daily rows only as far back as the hourly lookback. `until` is tomorrow: a clock a
    little ahead of ours (or a day that already began in the account's zone) loses nothing."""
    until = today + timedelta(days=1)
    days = settings.sync_lookback_days_daily if full else settings.sync_lookback_days_hourly
    daily = Window(today - timedelta(days=days), until)
    hourly = Window(today - timedelta(days=settings.sync_lookback_days_hourly), until)
    chunks = [chunk("ad_day", daily), chunk("reach", daily), chunk("ad_hour", hourly)]
    return Window(min(daily.since, hourly.since), until), chunks


def chunk_window(item: dict[str, Any]) -> Window:
    return Window(date.fromisoformat(item["since"]), date.fromisoformat(item["until"]))


def next_pending(checkpoint: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    for index, item in enumerate(checkpoint.get("chunks", [])):
        if item["status"] == PENDING:
            return index, item
    return None


def totals(checkpoint: dict[str, Any]) -> dict[str, int]:
    chunks = checkpoint.get("chunks", [])
    return {
        "chunks": len(chunks),
        "done": sum(1 for c in chunks if c["status"] == DONE),
        "failed": sum(1 for c in chunks if c["status"] == FAILED),
        "rows": sum(int(c.get("rows") or 0) for c in chunks),
        "inserted": sum(int(c.get("inserted") or 0) for c in chunks),
        "revised": sum(int(c.get("revised") or 0) for c in chunks),
    }
