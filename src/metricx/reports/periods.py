"""When a schedule is due and which period its report covers.

A schedule's occurrences are its hour (every day, or every chosen weekday) on the workspace's
wall clock: 08:00 in New York is 13:00 UTC in winter and 12:00 in summer. An hour that a change
to summer time skips falls on the first instant after the gap (02:00 on the spring-forward day
is 03:00 EDT); an hour that the change back repeats is its first occurrence. A schedule is due
from its latest occurrence until that occurrence's period is delivered; occurrences before the
schedule was created are not sent (the first report is the next one).

The period is the workspace's dates just before the occurrence: yesterday (daily) or the last
7 days (weekly), compared with the same number of days before them. The query layer reads
those dates in each ad account's own calendar, as the dashboard does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from metricx.metrics.compare import earlier_period
from metricx.models import ReportFrequency


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def previous(self) -> Period:
        return Period(*earlier_period(self.start, self.end, "previous"))


def occurrence_at(day: date, hour: int, zone: str) -> datetime:
    """The instant ``hour``:00 of ``day`` on ``zone``'s wall clock, in UTC. A skipped hour
    (spring forward) is read with the offset before the change: the instant after the gap."""
    local = datetime.combine(day, time(hour), ZoneInfo(zone))  # fold=0: the first one
    return local.astimezone(UTC)


def latest_occurrence(
    now: datetime, *, zone: str, frequency: ReportFrequency, hour: int, weekday: int | None
) -> datetime:
    """The schedule's latest occurrence at or before ``now``."""
    today = now.astimezone(ZoneInfo(zone)).date()
    for back in range(0, 15):
        day = today - timedelta(days=back)
        if frequency is ReportFrequency.WEEKLY and day.weekday() != weekday:
            continue
        at = occurrence_at(day, hour, zone)
        if at <= now:
            return at
    raise AssertionError("a weekly schedule occurs within 14 days")  # pragma: no cover


def period_of(occurrence: datetime, *, zone: str, frequency: ReportFrequency) -> Period:
    """The days the report of ``occurrence`` covers: the workspace's dates before it."""
    day = occurrence.astimezone(ZoneInfo(zone)).date()
    days = 7 if frequency is ReportFrequency.WEEKLY else 1
    return Period(day - timedelta(days=days), day - timedelta(days=1))


def current_period(
    now: datetime, *, zone: str, frequency: ReportFrequency, hour: int, weekday: int | None
) -> tuple[datetime, Period]:
    """The latest occurrence and its period."""
    at = latest_occurrence(now, zone=zone, frequency=frequency, hour=hour, weekday=weekday)
    return at, period_of(at, zone=zone, frequency=frequency)
