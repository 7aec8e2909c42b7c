"""All SQL of retention: partitions and their contents, row removal, rollups of a month, for
metric facts and (``breakdown_*``) breakdown facts.

Table names come from ``fact_table`` or ``breakdown_table`` only (a validated partition name
or the default), so nothing user-supplied reaches an identifier."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from metricx.facts import rollups
from metricx.facts.breakdowns import MONTH, WEEK, summed_spans_sql
from metricx.facts.partitions import existing_partitions, month_start
from metricx.models import FactArchive
from metricx.retention.archive import BREAKDOWN_FACTS, CHECKED, COLUMNS, Totals

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
    name = breakdown_table(table) if table.startswith("breakdown_") else fact_table(table)
    session.execute(text("SET LOCAL lock_timeout = '10s'"))
    session.execute(text(f"LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE"))


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
    _detach_and_drop(session, "metric_facts", fact_table(table), DEFAULT_PARTITION)


def _detach_and_drop(session: Session, parent: str, name: str, default: str) -> None:
    """``name``, a validated monthly partition of ``parent``, detached and dropped."""
    if name == default:
        raise ValueError("the default partition is never dropped")
    session.execute(text(f"ALTER TABLE {parent} DETACH PARTITION {name}"))
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


# Breakdown facts: daily rows partitioned by month on ``day`` (a local date), no granularity
# column. Their windows are dates, not instants.

BREAKDOWN_DEFAULT = "breakdown_facts_default"
_BREAKDOWN_PARTITION = re.compile(r"^breakdown_facts_p(\d{4})_(\d{2})$")
_DAYS = "day >= :start AND day < :end"


def breakdown_table(name: str) -> str:
    if name != BREAKDOWN_DEFAULT and not _BREAKDOWN_PARTITION.match(name):
        raise ValueError(f"not a breakdown_facts partition: {name!r}")
    return name


def breakdown_partitions(session: Session) -> list[tuple[str, date]]:
    """(name, first day of its month) of every monthly partition of breakdown_facts, oldest
    first."""
    rows = session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'breakdown_facts'"
        )
    )
    out = []
    for (name,) in rows:
        m = _BREAKDOWN_PARTITION.match(name)
        if m:
            out.append((name, date(int(m[1]), int(m[2]), 1)))
    return sorted(out, key=lambda p: p[1])


def breakdown_has_rows(session: Session, table: str) -> bool:
    sql = f"SELECT EXISTS (SELECT 1 FROM {breakdown_table(table)})"
    return bool(session.execute(text(sql)).scalar_one())


def breakdown_default_months(session: Session, before: date) -> list[date]:
    """Months of the default partition's rows with days before ``before``."""
    rows = session.execute(
        text(
            f"SELECT DISTINCT date_trunc('month', day)::date FROM {BREAKDOWN_DEFAULT} "
            "WHERE day < :before ORDER BY 1"
        ),
        {"before": before},
    )
    return [r[0] for r in rows]


def breakdown_totals(session: Session, table: str, start: date, end: date) -> Totals:
    checked = BREAKDOWN_FACTS.checked
    sums = ", ".join(f"coalesce(sum({m}), 0)" for m in checked)
    row = session.execute(
        text(f"SELECT count(*), {sums} FROM {breakdown_table(table)} WHERE {_DAYS}"),
        {"start": start, "end": end},
    ).one()
    return Totals(int(row[0]), tuple(Decimal(v) for v in row[1:]), checked)


def breakdown_count(session: Session, table: str) -> int:
    sql = f"SELECT count(*) FROM {breakdown_table(table)}"
    return int(session.execute(text(sql)).scalar_one())


def stream_breakdown_rows(
    session: Session, table: str, start: date, end: date, batch: int = 50_000
) -> Iterator[Sequence[Sequence[Any]]]:
    """The month's rows, in archive column order, through a server-side cursor."""
    result = session.connection().execute(
        text(
            f"SELECT {', '.join(BREAKDOWN_FACTS.columns)} FROM {breakdown_table(table)} "
            f"WHERE {_DAYS} ORDER BY day, workspace_id, breakdown, entity_id, key1, key2"
        ).execution_options(stream_results=True, max_row_buffer=batch),
        {"start": start, "end": end},
    )
    for part in result.partitions(batch):
        yield [tuple(r) for r in part]


def delete_breakdown_rows(session: Session, table: str, start: date, end: date) -> int:
    """One bulk DELETE of a month of breakdown facts (stragglers in the default partition)."""
    result = session.execute(
        text(f"DELETE FROM {breakdown_table(table)} WHERE {_DAYS}"),
        {"start": start, "end": end},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def drop_breakdown_partition(session: Session, table: str) -> None:
    _detach_and_drop(session, "breakdown_facts", breakdown_table(table), BREAKDOWN_DEFAULT)


def delete_breakdown_rollups(session: Session, start: date, end: date) -> int:
    """The days' rollup rows (``span`` 1), every workspace, as ``delete_rollups`` does for
    metric facts: archived days read as empty at every level, as they do at ad level, rather
    than as totals no fact supports. The week and month rows the days touch are summed again
    from the day rows that remain (a week across the month's edge keeps its other month's
    days; a week or month wholly inside goes)."""
    result = session.execute(
        text(f"DELETE FROM breakdown_rollups WHERE span = 1 AND {_DAYS}"),
        {"start": start, "end": end},
    )
    last = end - timedelta(days=1)
    # The Mondays of the first and the last day's weeks; the firsts of their months.
    for span, lo, hi, trunc, through in (
        (
            WEEK,
            start - timedelta(days=start.weekday()),
            last - timedelta(last.weekday()),
            "week",
            "CAST(:hi AS date) + 6",
        ),
        (
            MONTH,
            month_start(start),
            month_start(last),
            "month",
            "CAST(CAST(:hi AS date) + interval '1 month - 1 day' AS date)",
        ),
    ):
        bounds = {"lo": lo, "hi": hi}
        session.execute(
            text(f"DELETE FROM breakdown_rollups WHERE span = {span} AND day BETWEEN :lo AND :hi"),
            bounds,
        )
        session.execute(
            text(summed_spans_sql(span, trunc, f"r.day BETWEEN :lo AND {through}")), bounds
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
