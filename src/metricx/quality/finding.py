"""What every check works on (the window) and returns (findings)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from metricx.ingest.timing import day_start_utc, zone
from metricx.models import Connection, Severity

# Finding kinds, one per rule.
HOURLY_VS_DAILY = "hourly_vs_daily"
LEVEL_TOTAL_MISMATCH = "level_total_mismatch"
UNKNOWN_ENTITY_FACTS = "unknown_entity_facts"
ORPHANED_ENTITY = "orphaned_entity"
ENTITY_MOVED = "entity_moved"
MISSING_HOURS = "missing_hours"
NEW_ENTITY_WITHOUT_DATA = "new_entity_without_data"
SPEND_JUMP = "spend_jump"
SPEND_COLLAPSE = "spend_collapse"
IMPRESSIONS_JUMP = "impressions_jump"
IMPRESSIONS_COLLAPSE = "impressions_collapse"
CLICKS_OVER_IMPRESSIONS = "clicks_over_impressions"
SPEND_WITHOUT_IMPRESSIONS = "spend_without_impressions"
KINDS = (
    HOURLY_VS_DAILY,
    LEVEL_TOTAL_MISMATCH,
    UNKNOWN_ENTITY_FACTS,
    ORPHANED_ENTITY,
    ENTITY_MOVED,
    MISSING_HOURS,
    NEW_ENTITY_WITHOUT_DATA,
    SPEND_JUMP,
    SPEND_COLLAPSE,
    IMPRESSIONS_JUMP,
    IMPRESSIONS_COLLAPSE,
    CLICKS_OVER_IMPRESSIONS,
    SPEND_WITHOUT_IMPRESSIONS,
)


@dataclass(frozen=True)
class Window:
    """The complete local days ``since``..``until`` of one connection's ad account."""

    connection: Connection
    since: date
    until: date
    now: datetime

    @property
    def tz(self) -> tzinfo:
        return zone(self.connection.timezone)

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.connection.workspace_id

    def day_start(self, day: date) -> datetime:
        return day_start_utc(day, self.tz)

    def day_end(self, day: date) -> datetime:
        return day_start_utc(day + timedelta(days=1), self.tz)

    @property
    def start_utc(self) -> datetime:
        return self.day_start(self.since)

    @property
    def end_utc(self) -> datetime:
        return self.day_end(self.until)

    def days(self) -> list[date]:
        return [self.since + timedelta(days=i) for i in range((self.until - self.since).days + 1)]


@dataclass
class Finding:
    kind: str
    message: str
    severity: Severity = Severity.WARNING
    entity_id: uuid.UUID | None = None
    level: str | None = None
    external_id: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    numbers: dict[str, Any] = field(default_factory=dict)
    detail: str = ""  # distinguishes two findings of one kind, entity and period

    def dedupe_key(self, connection_id: uuid.UUID) -> str:
        start = self.period_start.isoformat() if self.period_start else "-"
        return f"{self.kind}:{connection_id}:{self.entity_id or '-'}:{start}:{self.detail}"[:300]


def plain(value: Any) -> Any:
    """A number as JSON keeps it: money as a string (exact), counts as ints."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def comparison(expected: Any, actual: Any) -> dict[str, Any]:
    diff = (actual or 0) - (expected or 0)
    return {"expected": plain(expected), "actual": plain(actual), "difference": plain(diff)}


def differs(expected: Decimal | int, actual: Decimal | int, tolerance: float) -> bool:
    if expected == actual:
        return False
    if tolerance <= 0:
        return True
    scale = max(abs(Decimal(expected)), abs(Decimal(actual)))
    return abs(Decimal(actual) - Decimal(expected)) > scale * Decimal(str(tolerance))
