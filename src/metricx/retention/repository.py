"""All SQL of retention: partitions and their contents, row removal, rollups of a month.

Table names come from ``fact_table`` only (a validated partition name or the default), so
nothing user-supplied reaches an identifier."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from metricx.facts import rollups
from metricx.facts.partitions import existing_partitions
from metricx.models import FactArchive
from metricx.retention.archive import CHECKED, COLUMNS, Totals

DEFAULT_PARTITION = "metric_facts_default"
_PARTITION = re.compile(r"^metric_facts_p(\d{4})_(\d{2})$")


def fact_table(name: str) -> str:
    if name != DEFAULT_PARTITION and not _PARTITION.match(name):
        raise ValueError(f"not a metric_facts partition: {name!r}")
    return name


def monthly_partitions(session: Session) -> list[tuple[str, date]]:
    """(name, first day of its month) of every monthly partition, oldest first."""
    out = []
    for name in existing_partitions(session):
        m = _PARTITION.match(name)
        if m:
            out.append((name, date(int(m[1]), int(m[2]), 1)))
    return sorted(out, key=lambda p: p[1])


def granularities_in(session: Session, table: str) -> set[str]:
    rows = session.execute(text(f"SELECT granularity FROM {fact_table(table)} GROUP BY 1"))
    return {r[0] for r in rows}


def default_partition_months(session: Session, before: datetime) -> list[tuple[date, str]]:
    """(month, granularity) of the default partition's rows that start before ``before``."""
    rows = session.execute(
        text(
            f"SELECT DISTINCT date_trunc('month', event_at AT TIME ZONE 'UTC')::date, granularity "
            f"FROM {DEFAULT_PARTITION} WHERE event_at < :before ORDER BY 1, 2"
        ),
        {"before": before},
    )
    return [(r[0], r[1]) for r in rows]


def lock_for_archive(session: Session, table: str) -> None:
    """Writers of this table wait (readers do not) until the archive step commits; give up
    rather than stall the app when the lock does not come quickly."""
    session.execute(text("SET LOCAL lock_timeout = '10s'"))
    session.execute(text(f"LOCK TABLE {fact_table(table)} IN SHARE ROW EXCLUSIVE MODE"))


_WINDOW = "event_at >= :start AND event_at < :end AND granularity = :g"


def totals(session: Session, table: str, start: datetime, end: datetime, g: str) -> Totals:
    sums = ", ".join(f"coalesce(sum({m}), 0)" for m in CHECKED)
    row = session.execute(
        text(f"SELECT count(*), {sums} FROM {fact_table(table)} WHERE {_WINDOW}"),
        {"start": start, "end": end, "g": g},
    ).one()
    return Totals(int(row[0]), tuple(Decimal(v) for v in row[1:]))


def count_rows(session: Session, table: str) -> int:
    return int(session.execute(text(f"SELECT count(*) FROM {fact_table(table)}")).scalar_one())


def stream_rows(
    session: Session, table: str, start: datetime, end: datetime, g: str, batch: int = 50_000
) -> Iterator[Sequence[Sequence[Any]]]:
    """The rows, in archive column order, through a server-side cursor (constant memory)."""
    result = session.connection().execute(
        text(
            f"SELECT {', '.join(COLUMNS)} FROM {fact_table(table)} WHERE {_WINDOW} "
            "ORDER BY event_at, natural_key"
        ).execution_options(stream_results=True, max_row_buffer=batch),
        {"start": start, "end": end, "g": g},
    )
    for part in result.partitions(batch):
        yield [tuple(r) for r in part]


def delete_rows(session: Session, table: str, start: datetime, end: datetime, g: str) -> int:
    """One bulk DELETE of a month of one granularity (the finer granularity's early expiry,
    or stragglers in the default partition): never row by row."""
    result = session.execute(
        text(f"DELETE FROM {fact_table(table)} WHERE {_WINDOW}"),
        {"start": start, "end": end, "g": g},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def drop_partition(session: Session, table: str) -> None:
    name = fact_table(table)
    if name == DEFAULT_PARTITION:
        raise ValueError("the default partition is never dropped")
    session.execute(text(f"ALTER TABLE metric_facts DETACH PARTITION {name}"))
    session.execute(text(f"DROP TABLE {name}"))


def delete_rollups(session: Session, start: datetime, end: datetime, g: str) -> int:
    """The month's rollup rows of this granularity, every workspace: archived months read as
    empty rather than as totals no fact supports. The week rows of the weeks the month
    touches are summed again from what remains."""
    result = session.execute(
        text(
            "DELETE FROM metric_rollups WHERE granularity = ANY(:g) "
            "AND event_at >= :start AND event_at < :end"
        ),
        # An hour row's days (rollups.DAY_BLOCK) go with it.
        {"start": start, "end": end, "g": [g, rollups.DAY_BLOCK] if g == "hour" else [g]},
    )
    if g in ("hour", "day"):
        rollups.rebuild_blocks(session, g, start, end)
    return int(result.rowcount)  # type: ignore[attr-defined]


def archived_paths(session: Session) -> set[str]:
    """Every archive file fact_archives records."""
    return set(session.scalars(select(FactArchive.path)))
