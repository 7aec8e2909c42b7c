"""Retention: which months of which granularity are past their keep-time, and archiving
them: Parquet file written, read back and checked, then the rows leave PostgreSQL.

Partitions are monthly and hold every granularity. A month's partition is detached and
dropped whole once every granularity present in it is past retention. Until then a finer
granularity that expires earlier (minute facts: days, not months) is archived and removed
with one bulk DELETE of that month and granularity. Rows of an expired month caught by the
default partition are archived and deleted the same way. Retention counts whole months: a
month goes once its last day is past the keep-time. Flushes, never commits.

Breakdown facts (``breakdown_facts``) are daily figures, so they follow the daily keep-time
(``retention_day_days``; 0 keeps them forever): a month's partition with every day past it is
archived (``breakdown_facts/granularity=day/``, recorded in ``fact_archives`` with the
partition as ``source``), then detached and dropped; an expired month's rows in the default
partition are deleted. Their rollups go as metric facts' do: the archived days'
``breakdown_rollups`` rows are deleted (an archived month reads as empty at every level, as
it does at ad level, which reads the facts, and as archived metric facts do) and the week
rows of the weeks those days touch are summed again from the days that remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.facts.partitions import add_months
from metricx.logging import get_logger
from metricx.models import FactArchive, Granularity
from metricx.retention import repository
from metricx.retention.archive import (
    BREAKDOWN_FACTS,
    ArchiveMismatch,
    Totals,
    read_totals,
    write_parquet,
)

log = get_logger("metricx.retention")
METRIC_FACTS = "metric_facts"
BREAKDOWNS = "breakdown_facts"


@dataclass(frozen=True)
class ArchiveStep:
    """One unit of work: a month of one table, the granularities to archive, and whether the
    table is dropped afterwards (else the rows are deleted). ``facts`` is the family the table
    belongs to: ``metric_facts`` or ``breakdown_facts`` (daily only)."""

    month: date
    table: str
    granularities: tuple[str, ...]
    drop_partition: bool
    facts: str = METRIC_FACTS


def retention_days(settings: Settings) -> dict[str, int]:
    """Keep-time per granularity in days; 0 means forever."""
    return {
        Granularity.MINUTE.value: settings.retention_minute_days,
        Granularity.HOUR.value: settings.retention_hour_days,
        Granularity.DAY.value: settings.retention_day_days,
    }


def _utc(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


def expired_granularities(settings: Settings, month: date, now: datetime) -> set[str]:
    """Granularities whose facts of ``month`` are all past retention at ``now``."""
    month_end = _utc(add_months(month, 1))
    return {
        g
        for g, days in retention_days(settings).items()
        if days > 0 and month_end <= now - timedelta(days=days)
    }


def plan(session: Session, *, settings: Settings, now: datetime | None = None) -> list[ArchiveStep]:
    now = now or datetime.now(UTC)
    steps: list[ArchiveStep] = []
    for table, month in repository.monthly_partitions(session):
        expired = expired_granularities(settings, month, now)
        if not expired:
            continue
        present = repository.granularities_in(session, table)
        if not present:
            continue  # an empty partition costs nothing and keeps inserts off the default
        if present <= expired:
            steps.append(ArchiveStep(month, table, tuple(sorted(present)), True))
        else:
            steps.extend(ArchiveStep(month, table, (g,), False) for g in sorted(present & expired))
    shortest = min((d for d in retention_days(settings).values() if d > 0), default=0)
    if shortest:
        horizon = now - timedelta(days=shortest)
        for month, g in repository.default_partition_months(session, horizon):
            if g in expired_granularities(settings, month, now):
                steps.append(ArchiveStep(month, repository.DEFAULT_PARTITION, (g,), False))
    return steps + plan_breakdowns(session, settings=settings, now=now)


def plan_breakdowns(session: Session, *, settings: Settings, now: datetime) -> list[ArchiveStep]:
    """Months of breakdown facts past the daily keep-time: their partitions (those with rows),
    and the months of the default partition's rows."""
    day = Granularity.DAY.value
    if not settings.retention_day_days:
        return []
    steps = [
        ArchiveStep(month, table, (day,), True, BREAKDOWNS)
        for table, month in repository.breakdown_partitions(session)
        if day in expired_granularities(settings, month, now)
        and repository.breakdown_has_rows(session, table)
    ]
    horizon = (now - timedelta(days=settings.retention_day_days)).date()
    steps += [
        ArchiveStep(month, repository.BREAKDOWN_DEFAULT, (day,), False, BREAKDOWNS)
        for month in repository.breakdown_default_months(session, horizon)
        if day in expired_granularities(settings, month, now)
    ]
    return steps


ORPHANED = ".orphaned"


def archive_folder(settings: Settings, g: str, facts: str = METRIC_FACTS) -> Path:
    return settings.archive_path / facts / f"granularity={g}"


def archive_prefix(step: ArchiveStep) -> str:
    return f"{step.month:%Y-%m}_{step.table}_"


def archive_file(settings: Settings, step: ArchiveStep, g: str, now: datetime) -> Path:
    name = f"{archive_prefix(step)}{now:%Y%m%dT%H%M%SZ}.parquet"
    return archive_folder(settings, g, step.facts) / name


def set_aside_orphans(session: Session, settings: Settings, step: ArchiveStep, g: str) -> None:
    """Files of this month, table and granularity that no archive row records: an earlier run
    wrote them and died (or its commit failed) before its rows left the database, so they
    duplicate rows still there. They are renamed ``*.parquet.orphaned`` (out of every reader's
    ``*.parquet``), not deleted: an archive directory shared by mistake loses nothing."""
    recorded = repository.archived_paths(session)
    folder = archive_folder(settings, g, step.facts)
    for path in sorted(folder.glob(f"{archive_prefix(step)}*.parquet")):
        if str(path) not in recorded:
            path.rename(path.with_name(path.name + ORPHANED))
            log.warning("unrecorded archive file set aside", path=str(path), table=step.table)


def apply(
    session: Session, *, settings: Settings, step: ArchiveStep, now: datetime | None = None
) -> list[FactArchive]:
    """Archive one step. Any mismatch raises before a row is removed (the caller's unit of
    work rolls back; the partial file is deleted)."""
    now = now or datetime.now(UTC)
    if step.facts == BREAKDOWNS:
        return apply_breakdowns(session, settings=settings, step=step, now=now)
    start, end = _utc(step.month), _utc(add_months(step.month, 1))
    repository.lock_for_archive(session, step.table)
    if step.drop_partition:
        present = repository.granularities_in(session, step.table)
        if not present <= set(step.granularities):
            raise ArchiveMismatch(f"{step.table} gained {present} since planning; not dropped")
    done: list[FactArchive] = []
    written: list[Path] = []
    try:
        for g in step.granularities:
            set_aside_orphans(session, settings, step, g)
            expected = repository.totals(session, step.table, start, end, g)
            path = archive_file(settings, step, g, now)
            write_parquet(path, repository.stream_rows(session, step.table, start, end, g))
            written.append(path)
            found = read_totals(path)
            if found != expected:
                raise ArchiveMismatch(f"{path} holds {found}, {step.table} holds {expected}")
            if not step.drop_partition:
                deleted = repository.delete_rows(session, step.table, start, end, g)
                if deleted != expected.rows:
                    raise ArchiveMismatch(f"deleted {deleted} rows, archived {expected.rows}")
            repository.delete_rollups(session, start, end, g)
            row = _record(step, g, path, expected)
            session.add(row)
            done.append(row)
        if step.drop_partition:
            if repository.count_rows(session, step.table) != sum(r.rows for r in done):
                raise ArchiveMismatch(f"{step.table} has rows no archive holds; not dropped")
            repository.drop_partition(session, step.table)
        session.flush()
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    log.info(
        "facts archived",
        month=str(step.month),
        table=step.table,
        granularities=list(step.granularities),
        dropped=step.drop_partition,
        rows=sum(r.rows for r in done),
    )
    return done


def _record(step: ArchiveStep, granularity: str, path: Path, expected: Totals) -> FactArchive:
    """The fact_archives row of a file written and checked."""
    return FactArchive(
        month=step.month,
        granularity=granularity,
        source=step.table,
        method="drop_partition" if step.drop_partition else "delete_rows",
        path=str(path),
        rows=expected.rows,
        spend=expected.of("spend"),
        impressions=int(expected.of("impressions")),
        clicks=int(expected.of("clicks")),
    )


def apply_breakdowns(
    session: Session, *, settings: Settings, step: ArchiveStep, now: datetime
) -> list[FactArchive]:
    """``apply`` for a month of breakdown facts: the same checks in the same order (file
    written, read back and totalled against the database before a row goes; a partition
    dropped only when the archive holds every row it has)."""
    start, end = step.month, add_months(step.month, 1)
    repository.lock_for_archive(session, step.table)
    set_aside_orphans(session, settings, step, Granularity.DAY.value)
    expected = repository.breakdown_totals(session, step.table, start, end)
    path = archive_file(settings, step, Granularity.DAY.value, now)
    try:
        write_parquet(
            path,
            repository.stream_breakdown_rows(session, step.table, start, end),
            BREAKDOWN_FACTS,
        )
        found = read_totals(path, BREAKDOWN_FACTS)
        if found != expected:
            raise ArchiveMismatch(f"{path} holds {found}, {step.table} holds {expected}")
        if step.drop_partition:
            if repository.breakdown_count(session, step.table) != expected.rows:
                raise ArchiveMismatch(f"{step.table} has rows no archive holds; not dropped")
            repository.drop_breakdown_partition(session, step.table)
        else:
            deleted = repository.delete_breakdown_rows(session, step.table, start, end)
            if deleted != expected.rows:
                raise ArchiveMismatch(f"deleted {deleted} rows, archived {expected.rows}")
        repository.delete_breakdown_rollups(session, start, end)
        row = _record(step, Granularity.DAY.value, path, expected)
        session.add(row)
        session.flush()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    log.info(
        "breakdown facts archived",
        month=str(step.month),
        table=step.table,
        dropped=step.drop_partition,
        rows=expected.rows,
    )
    return [row]
