"""The periodic passes of the metrics sync: enqueue due connections, re-queue runs whose
worker died, and find missing days (gaps) to backfill."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.ingest.timing import zone
from metricx.logging import get_logger
from metricx.models import Connection, Fetch, RunStatus
from metricx.sync import plan, repository, service
from metricx.sync.breakdowns import sets_for

log = get_logger("metricx.sync")
MAX_GAP_WINDOWS = 10


def enqueue_due(session: Session, *, settings: Settings, now: datetime) -> list[Fetch]:
    """A sync for every connection whose next sync time has come (a new connection's first
    one is its initial backfill); none for a connection that already has one queued or
    running."""
    queued: list[Fetch] = []
    for connection in repository.due_connections(session, now):
        connection.next_sync_at = now + timedelta(minutes=connection.sync_interval_minutes)
        if repository.open_sync(session, connection) is not None:
            continue
        queued.append(
            service.request_sync(session, settings=settings, connection=connection, now=now)
        )
    session.flush()
    return queued


def recover_stalled(session: Session, *, now: datetime) -> list[Fetch]:
    """Open fetches nobody runs or will run go back to the queue and resume from their
    checkpoint: a running one whose worker was killed (the connection's lock is free), and a
    queued one whose job died before the run started (a cut database session fails the job
    while the fetch still says queued)."""
    recovered: list[Fetch] = []
    for fetch in repository.running_syncs(session):
        if fetch.connection_id is None:
            continue
        if fetch.status is RunStatus.QUEUED and repository.has_pending_job(
            session, fetch.id, service.SYNC_TASK
        ):
            continue
        if not repository.lock_is_free(session, fetch.connection_id):
            continue
        fetch.status = RunStatus.QUEUED
        service.reschedule(session, fetch, now)
        recovered.append(fetch)
        log.warning("stalled sync re-queued", fetch_id=str(fetch.id))
    session.flush()
    return recovered


def _local_day(instant: datetime, connection: Connection) -> date:
    return instant.astimezone(zone(connection.timezone)).date()


def find_gaps(
    session: Session, *, settings: Settings, connection: Connection, today: date
) -> list[plan.Window]:
    """Past days missing daily or hourly ad facts, between the first day with facts and
    yesterday, while the account has ads. A day Meta has no delivery for at all is asked
    once (the gap fill's window is remembered), never again."""
    if repository.count_ads(session, connection) == 0:
        return []
    since = today - timedelta(days=settings.sync_gap_horizon_days)
    yesterday = today - timedelta(days=1)
    days = repository.fact_days(session, connection, "day", since, yesterday)
    hours = repository.fact_days(session, connection, "hour", since, yesterday)
    if not days and not hours:
        return []
    covered: set[date] = set()
    for start, end in repository.gap_fill_windows(session, connection):
        d, last = _local_day(start, connection), _local_day(end - timedelta(seconds=1), connection)
        while d <= last:
            covered.add(d)
            d += timedelta(days=1)
    missing: list[date] = []
    d = min(days | hours)
    while d <= yesterday:
        if (d not in days or d not in hours) and d not in covered:
            missing.append(d)
        d += timedelta(days=1)
    windows: list[plan.Window] = []
    for d in missing:
        if windows and windows[-1].until + timedelta(days=1) == d:
            windows[-1] = plan.Window(windows[-1].since, d)
        else:
            windows.append(plan.Window(d, d))
    return windows[:MAX_GAP_WINDOWS]


def fill_gaps(
    session: Session, *, settings: Settings, connection: Connection, now: datetime | None = None
) -> list[Fetch]:
    """Queue a gap-fill fetch (a backfill of both granularities) per missing stretch."""
    now = now or datetime.now(UTC)
    today = service.local_today(connection, now)
    fetches = []
    for window in find_gaps(session, settings=settings, connection=connection, today=today):
        breakdowns = sets_for(settings, connection)
        chunks = plan.backfill_plan(settings, window, breakdowns=breakdowns, today=today)
        fetches.append(
            service.queue_fetch(session, settings, connection, "gap_fill", window, chunks, now)
        )
        log.info(
            "gap found, backfill queued",
            connection_id=str(connection.id),
            since=window.since.isoformat(),
            until=window.until.isoformat(),
        )
    return fetches


def fill_all_gaps(session: Session, *, settings: Settings, now: datetime) -> int:
    total = 0
    for connection in repository.active_connections(session):
        # A sync still queued or running is filling those days right now: a gap fill beside
        # it would fetch them twice. The next pass looks again once it is done.
        if repository.open_sync(session, connection) is not None:
            continue
        if repository.has_backfill(session, connection):
            total += len(fill_gaps(session, settings=settings, connection=connection, now=now))
    return total
