"""Time zones: validating IANA names."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def is_valid_timezone(name: str) -> bool:
    if not name or name not in _names():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_NAMES: set[str] | None = None


def _names() -> set[str]:
    global _NAMES
    if _NAMES is None:
        _NAMES = available_timezones() | {"UTC"}
    return _NAMES


def timezone_names() -> list[str]:
    """Every name ``is_valid_timezone`` accepts, sorted (the OpenAPI document's enum)."""
    return sorted(name for name in _names() if is_valid_timezone(name))
