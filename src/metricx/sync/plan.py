"""A sync's plan: the window split into chunks, stored as the fetch's checkpoint
(checkpoints.SyncCheckpoint).

The checkpoint is the plan plus each chunk's state, written after every chunk in its own
transaction. A worker that dies mid-backfill leaves the finished chunks marked `done`; the next
run skips them and goes on with the first chunk not done: never from zero, never with a gap.

Parts: `entities` (refresh campaigns/ad sets/ads first), `ad_day`, `ad_hour` (ad-level facts),
`reach` (account/campaign/ad set daily reach), `reach_ranges` (their reach over the standard
ranges: sync/reach_ranges.py), `breakdown` (one breakdown set's daily ad rows, the set named by
the chunk: sync/breakdowns.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from metricx.config import Settings
from metricx.sync.checkpoints import ChunkState, SyncCheckpoint, parse_sync

PARTS = ("entities", "ad_day", "ad_hour", "reach", "reach_ranges", "breakdown")
PENDING: Final = "pending"
DONE: Final = "done"
FAILED: Final = "failed"


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


# Meta leaves reach out of breakdown rows of a query starting more than this many months back.
BREAKDOWN_REACH_MONTHS = 13


def reach_cutoff(today: date) -> date:
    """The oldest start date whose breakdown rows still carry reach (13 months back)."""
    year, month = divmod(today.year * 12 + today.month - 1 - BREAKDOWN_REACH_MONTHS, 12)
    for day in (today.day, 30, 29, 28):
        try:
            return date(year, month + 1, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def at_cutoff(window: Window, cutoff: date | None) -> list[Window]:
    """``window`` cut at ``cutoff`` when it straddles it: the days from the cutoff on are asked
    by a query of their own, which Meta answers with reach."""
    if cutoff is None or not window.since < cutoff <= window.until:
        return [window]
    return [Window(window.since, cutoff - timedelta(days=1)), Window(cutoff, window.until)]


def reach_revisits(
    days_by_set: Mapping[str, Sequence[date]], *, chunk_days: int, most: int
) -> list[ChunkState]:
    """Breakdown chunks re-reading the days stored without reach (each set's runs of
    consecutive days, in windows of at most ``chunk_days``), the newest ``most`` of them:
    Meta answers a report job over such old days with reach while the account's daily
    allowance lasts, so a daily pass spends at most that many and the next takes the rest."""
    found: list[tuple[Window, str]] = []
    for name, days in days_by_set.items():
        runs: list[Window] = []
        for day in sorted(set(days)):
            if runs and runs[-1].until + timedelta(days=1) == day:
                runs[-1] = Window(runs[-1].since, day)
            else:
                runs.append(Window(day, day))
        found += [(w, name) for run in runs for w in split(run, chunk_days)]
    found.sort(key=lambda f: (f[0].until, f[1]), reverse=True)
    return [chunk("breakdown", w, name) for w, name in found[: max(0, most)]]


def chunk(part: str, window: Window | None, breakdown: str | None = None) -> ChunkState:
    return ChunkState(
        part=part,
        since=window.since if window else None,
        until=window.until if window else None,
        breakdown=breakdown,
    )


def backfill_plan(
    settings: Settings,
    window: Window,
    *,
    hourly: bool = True,
    daily: bool = True,
    breakdowns: Sequence[str] = (),
    today: date | None = None,
) -> list[ChunkState]:
    """Daily chunks (ad facts + reach) and hourly chunks, interleaved oldest first so a
    partial backfill covers a contiguous stretch of history at every granularity; then one
    chunk per breakdown set and daily window, after the figures every page shows (a
    breakdown chunk is a report job of its own: first syncs took four times as long with
    them in between). A breakdown window straddling the 13-month reach cutoff of ``today``
    is cut there, so the days after it get their reach."""
    cutoff = reach_cutoff(today) if today is not None else None
    parts: list[tuple[date, int, ChunkState]] = []
    later: list[tuple[date, int, ChunkState]] = []
    if daily:
        for w in split(window, settings.sync_chunk_days_daily):
            parts.append((w.since, 0, chunk("ad_day", w)))
            parts.append((w.since, 1, chunk("reach", w)))
            for piece in at_cutoff(w, cutoff):
                for i, name in enumerate(breakdowns):
                    later.append((piece.since, i, chunk("breakdown", piece, name)))
    if hourly:
        for w in split(window, settings.sync_chunk_days_hourly):
            parts.append((w.since, 2, chunk("ad_hour", w)))
    parts.sort(key=lambda p: (p[0], p[1]))
    later.sort(key=lambda p: (p[0], p[1]))
    ranges = [chunk("reach_ranges", window)] if daily else []  # the days are in by then
    return [p[2] for p in parts] + ranges + [p[2] for p in later]


def incremental_plan(
    settings: Settings, today: date, *, full: bool = True, breakdowns: Sequence[str] = ()
) -> tuple[Window, list[ChunkState]]:
    """The lookback windows a sync re-reads. The daily pass (``full``) re-reads the whole
    daily lookback (late conversions land for weeks), and the breakdown sets over it (one
    chunk, one report job, per set: the hourly syncs between leave them be); the hourly syncs
    re-read the daily rows only as far back as the hourly lookback. `until` is tomorrow: a
    clock a little ahead of ours (or a day that already began in the account's zone) loses
    nothing."""
    until = today + timedelta(days=1)
    days = settings.sync_lookback_days_daily if full else settings.sync_lookback_days_hourly
    daily = Window(today - timedelta(days=days), until)
    hourly = Window(today - timedelta(days=settings.sync_lookback_days_hourly), until)
    chunks = [
        chunk("ad_day", daily),
        chunk("reach", daily),
        *(chunk("breakdown", daily, name) for name in (breakdowns if full else ())),
        chunk("ad_hour", hourly),
        chunk("reach_ranges", daily),
    ]
    return Window(min(daily.since, hourly.since), until), chunks


def chunk_window(item: ChunkState) -> Window:
    assert item.since is not None and item.until is not None, "entities chunks have no window"
    return Window(item.since, item.until)


def next_pending(checkpoint: SyncCheckpoint) -> int | None:
    """The index of the first chunk not yet done or failed."""
    for index, item in enumerate(checkpoint.chunks):
        if item.status == PENDING:
            return index
    return None


def totals(checkpoint: SyncCheckpoint | dict[str, Any] | None) -> dict[str, int]:
    """Chunks done and failed, rows read, inserted and revised (a stored checkpoint of any
    version, or the typed one)."""
    if not isinstance(checkpoint, SyncCheckpoint):
        checkpoint = parse_sync(checkpoint)
    chunks = checkpoint.chunks
    return {
        "chunks": len(chunks),
        "done": sum(1 for c in chunks if c.status == DONE),
        "failed": sum(1 for c in chunks if c.status == FAILED),
        "rows": sum(c.rows for c in chunks),
        "inserted": sum(c.inserted for c in chunks),
        "revised": sum(c.revised for c in chunks),
    }
