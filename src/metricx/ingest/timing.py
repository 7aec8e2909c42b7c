"""Where a fact sits in time: its bucket's start in UTC, from what the client sent.

Policy (the ingest endpoint documents it to users):
- ``event_at`` must carry a UTC offset; a naive date-time is refused.
- ``event_date`` + ``hour`` (+ ``minute``) is wall-clock time in the account's time zone (the
  connection's), else the workspace's.
- On the day clocks go forward, the skipped hour does not exist: refused.
- On the day clocks go back, the repeated hour is ambiguous: the record must say which one with
  ``fold`` (0 = the first occurrence, 1 = the second) or ``utc_offset`` (e.g. ``-04:00``);
  without either it is refused rather than guessed.
- An hourly fact starts on an hour boundary of its time zone (in Asia/Kolkata that is :30 UTC),
  a minute fact on a minute, a daily fact at the local day's first instant (midnight, or the
  end of a DST gap that swallows midnight).
- A bucket more than ``max_future`` ahead of now, or before 2000, is refused as absurd.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from metricx.ingest.records import FactInput, RecordError, RecordRefused

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=512)
def zone(name: str) -> tzinfo:
    return UTC if name == "UTC" else ZoneInfo(name)


def _fail(field: str, reason: str) -> RecordRefused:
    return RecordRefused(RecordError(field, reason))


def day_start_utc(day: date, tz: tzinfo) -> datetime:
    """The first instant of ``day`` in ``tz``, in UTC. With fold=0 a midnight inside a DST gap
    maps to the gap's end, which is the day's real start."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _wall_to_utc(wall: datetime, tz: tzinfo, fact: FactInput, field: str) -> datetime:
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    offset_first, offset_second = first.utcoffset(), second.utcoffset()
    if offset_first == offset_second:
        if fact.utc_offset is not None and fact.utc_offset != offset_first:
            raise _fail("utc_offset", f"{wall:%Y-%m-%d %H:%M} in {tz} is UTC{_fmt(offset_first)}")
        return first.astimezone(UTC)
    as_utc = first.astimezone(UTC)
    if as_utc.astimezone(tz).replace(tzinfo=None) != wall:
        raise _fail(field, f"{wall:%Y-%m-%d %H:%M} does not exist in {tz} (clocks skip it)")
    if fact.utc_offset is not None:
        for candidate in (first, second):
            if candidate.utcoffset() == fact.utc_offset:
                return candidate.astimezone(UTC)
        raise _fail(
            "utc_offset",
            f"{wall:%Y-%m-%d %H:%M} in {tz} is UTC{_fmt(offset_first)} or UTC{_fmt(offset_second)}",
        )
    if fact.fold is None:
        raise _fail(
            field,
            f"{wall:%Y-%m-%d %H:%M} happens twice in {tz} (clocks go back): "
            "send fold (0 first, 1 second) or utc_offset",
        )
    return (second if fact.fold else first).astimezone(UTC)


def _fmt(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def bucket_start_utc(
    fact: FactInput, tz: tzinfo, *, now: datetime, max_future: timedelta
) -> datetime:
    """The fact's bucket start in UTC, or ``RecordRefused`` saying why it has none."""
    gran = fact.granularity
    if fact.event_at is not None:
        field = "event_at"
        utc = fact.event_at.astimezone(UTC)
        if gran == "day":
            local = utc.astimezone(tz)
            if utc != day_start_utc(local.date(), tz):
                raise _fail(field, f"a daily fact starts at midnight in {tz}")
        elif utc.second or utc.microsecond:
            raise _fail(field, f"a {gran} fact starts on a whole minute")
        elif gran == "hour" and utc.astimezone(tz).minute:
            raise _fail(field, f"an hourly fact starts on an hour boundary of {tz}")
    else:
        assert fact.event_date is not None
        field = "hour"
        if gran == "day":
            if fact.hour or fact.minute:
                raise _fail("hour", "a daily fact has no hour or minute")
            utc = day_start_utc(fact.event_date, tz)
        else:
            if fact.hour is None:
                raise _fail("hour", f"required with event_date for a {gran} fact")
            if gran == "hour" and fact.minute:
                raise _fail("minute", "an hourly fact starts at minute 0")
            wall = datetime.combine(fact.event_date, time(fact.hour, fact.minute or 0))
            utc = _wall_to_utc(wall, tz, fact, field)
        field = "event_date"
    if utc > now + max_future:
        raise _fail(
            field, f"{utc:%Y-%m-%dT%H:%MZ} is too far in the future (more than {max_future} ahead)"
        )
    if utc < EARLIEST:
        raise _fail(field, "before 2000-01-01: not a plausible ad metric")
    return utc
