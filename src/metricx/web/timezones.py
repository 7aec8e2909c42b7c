"""The time zones offered in pickers: the common ones, plus whatever is in use already."""

from __future__ import annotations

from collections.abc import Iterable

COMMON = (
    "UTC",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Istanbul",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)


def timezone_choices(*in_use: str | None, extra: Iterable[str] = ()) -> list[str]:
    """COMMON first, then zones in use that it lacks, without duplicates."""
    wanted = [*COMMON, *(z for z in in_use if z), *extra]
    return list(dict.fromkeys(wanted))
