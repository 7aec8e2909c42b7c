"""Ads Manager's calendar: each ad account's days are its own.

Meta reports an ad account on the calendar of the account's time zone, and so does metricx:
- A daily fact belongs to its account's local date; day, week and month buckets and every
  date range group each account's facts by that account's own dates, whatever zone the viewer
  uses. A day is never split or shifted into another zone.
- Hour and minute buckets are instants, shown in the view's zone.
- A preset (Today, Yesterday, Last 7 days...) resolves in each account's zone, as Ads Manager
  does for that account: at 02:00 in Berlin, "Yesterday" is Berlin's yesterday for the Berlin
  account and Los Angeles' yesterday (a day earlier) for the Los Angeles account, so it never
  holds today's partial data. "Last N days" are the N whole days before today, as Meta's
  ``last_Nd`` presets are.
- Weeks start on the workspace's week start (Monday unless set otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Preset(StrEnum):
    TODAY = "today"
    YESTERDAY = "yesterday"
    LAST_7D = "last_7d"
    LAST_14D = "last_14d"
    LAST_30D = "last_30d"
    THIS_MONTH = "this_month"
    LAST_MONTH = "last_month"


PRESET_LABELS = {
    Preset.TODAY: "Today",
    Preset.YESTERDAY: "Yesterday",
    Preset.LAST_7D: "Last 7 days",
    Preset.LAST_14D: "Last 14 days",
    Preset.LAST_30D: "Last 30 days",
    Preset.THIS_MONTH: "This month",
    Preset.LAST_MONTH: "Last month",
}

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def preset_dates(preset: Preset, today: date) -> tuple[date, date]:
    """The first and last day (inclusive) of ``preset`` for an account whose today is
    ``today``."""
    if preset is Preset.TODAY:
        return today, today
    if preset is Preset.THIS_MONTH:
        return today.replace(day=1), today
    if preset is Preset.LAST_MONTH:
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    days = {Preset.YESTERDAY: 1, Preset.LAST_7D: 7, Preset.LAST_14D: 14, Preset.LAST_30D: 30}
    yesterday = today - timedelta(days=1)
    return yesterday - timedelta(days=days[preset] - 1), yesterday


@dataclass(frozen=True)
class DayWindow:
    """Days [start, end] (inclusive) of the accounts in ``zones`` (None: every account)."""

    start: date
    end: date
    zones: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "timezones": list(self.zones or ())}


def resolve(preset: Preset, zones: Iterable[str], now: datetime) -> list[DayWindow]:
    """The preset's days per account zone: one window when every zone gives the same dates
    (then it holds for every account), else one window per distinct set of dates."""
    by_dates: dict[tuple[date, date], list[str]] = {}
    for zone in sorted(set(zones)):
        today = now.astimezone(ZoneInfo(zone)).date()
        by_dates.setdefault(preset_dates(preset, today), []).append(zone)
    if not by_dates:  # no account in view: UTC's dates (nothing to show either way)
        return [DayWindow(*preset_dates(preset, now.astimezone(UTC).date()))]
    if len(by_dates) == 1:
        return [DayWindow(*next(iter(by_dates)))]
    return [DayWindow(s, e, tuple(z)) for (s, e), z in sorted(by_dates.items())]


def local_midnight(day: date, zone: str) -> datetime:
    """The first instant of ``day`` in ``zone``, in UTC."""
    return datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC)


def instants(start: date, after: date, zones: Iterable[str]) -> tuple[datetime, datetime]:
    """The UTC instants that hold the days [start, after) of every zone in ``zones``: what an
    index on instants reads before the per-account day filter keeps the rows."""
    names = set(zones) or {"UTC"}
    return (
        min(local_midnight(start, z) for z in names),
        max(local_midnight(after, z) for z in names),
    )


def week_start_sql(day: str, week_start: int) -> str:
    """The first day of the week holding the date ``day``; ``week_start`` is an ISO weekday
    (1 = Monday ... 7 = Sunday). Only integers reach the SQL."""
    shift = int(week_start) - 1
    return f"({day} - ((extract(isodow FROM {day})::int - 1 - {shift} + 7) % 7))"
