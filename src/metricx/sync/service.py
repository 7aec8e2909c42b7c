"""Metrics sync: request a sync (a fetch and its job in one transaction), run one chunk of it,
finish it, and the periodic passes (due connections, stalled runs, gaps).

A chunk runs in three steps: ``begin_chunk`` reads what it needs (a short transaction),
``pull_chunk`` fetches every page from Meta with no transaction open and no lock but the
connection's own, ``record_chunk`` writes the facts through the ingest service and the
checkpoint (a second short transaction). Meta's latency never holds a database transaction
or the workspace's fact-writer lock, so other accounts of the workspace and API ingests into
it do not queue behind it. Takes the session, flushes, never commits: the runner
(sync/runner.py) gives each step its own unit of work, which is what makes the checkpoint
survive a crash.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from metricx.alerts.service import raise_alert, resolve_alert
from metricx.config import Settings
from metricx.connections.service import mark_needs_reauth, token_invalid
from metricx.creatives.service import have_of
from metricx.errors import Conflict, InvalidInput
from metricx.ingest.service import upsert_facts
from metricx.ingest.timing import day_start_utc, zone
from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.errors import (
    MetaError,
    ThrottledError,
    TransientError,
    is_connection_lost,
    is_retryable,
    is_token_invalid,
    is_token_revoked,
    is_too_much_data,
)
from metricx.integrations.meta.fetcher import FetchOptions, MetaInsightsFetcher
from metricx.integrations.meta.insights import ReportFailedError
from metricx.integrations.meta.range_reach import RangeReachRow, fetch_range_reach
from metricx.jobs.enqueue import defer_job
from metricx.logging import get_logger
from metricx.models import Connection, ConnectionStatus, Fetch, RunStatus, Severity, Token
from metricx.quality.service import request_validation
from metricx.sync import checkpoints, metrics, plan, repository
from metricx.sync.actions import ActionSpool, record_actions
from metricx.sync.breakdowns import BreakdownSpool, record_breakdowns, sets_for
from metricx.sync.checkpoints import ChunkState, RunSpan, SyncCheckpoint
from metricx.sync.entities import EntityPull, pull_entities, record_entity_sync
from metricx.sync.facts import ad_fact, reach_fact
from metricx.sync.reach_ranges import ranges_due, record_ranges
from metricx.sync.spool import FactSpool

log = get_logger("metricx.sync")
SYNC_TASK = "run_metrics_sync"
ALERT_KIND = "sync_failed"
META_MAX_DAYS = 37 * 31


@dataclass
class ChunkOutcome:
    """What became of one attempt: done, retry after ``wait`` seconds, split (into smaller
    chunks, asked next), failed (dead-lettered), or fatal (the connection lost its token or
    access: the whole fetch stops)."""

    status: str  # done | retry | split | failed | fatal
    wait: float = 0.0
    error: str | None = None


def local_today(connection: Connection, now: datetime) -> date:
    return now.astimezone(zone(connection.timezone)).date()


def _check_active(connection: Connection) -> None:
    if connection.status is not ConnectionStatus.ACTIVE:
        raise Conflict(
            f"the connection is {connection.status.value}; reconnect or resume it first",
            code="connection_not_active",
        )


def request_sync(
    session: Session,
    *,
    settings: Settings,
    connection: Connection,
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
) -> Fetch:
    """Queue a metrics sync of ``connection`` and return its fetch (status ``queued``); the
    job is enqueued in the caller's transaction. With ``since``/``until`` it is a backfill of
    that range; a connection never backfilled gets its initial backfill
    (``sync_backfill_days``); otherwise an incremental sync re-reading the lookback windows.
    An incremental sync already queued or running is returned instead of a second one.
    This is what the web UI and the demo call for a new connection's first sync."""
    _check_active(connection)
    now = now or datetime.now(UTC)
    today = local_today(connection, now)
    if since is not None or until is not None or not repository.has_backfill(session, connection):
        until = until or today
        since = since or today - timedelta(days=settings.sync_backfill_days - 1)
        if since > until:
            raise InvalidInput("since must not be after until", details={"field": "since"})
        if (today - since).days > min(META_MAX_DAYS, settings.sync_backfill_max_days):
            raise InvalidInput(
                f"a backfill reaches at most {settings.sync_backfill_max_days} days back "
                "(Meta keeps 37 months of insights)",
                details={"field": "since"},
            )
        window = plan.Window(since, until)
        breakdowns = sets_for(settings, connection)
        chunks = plan.backfill_plan(settings, window, breakdowns=breakdowns, today=today)
        return queue_fetch(session, settings, connection, "backfill", window, chunks, now)
    open_fetch = repository.open_sync(session, connection)
    if open_fetch is not None and open_fetch.kind == "sync":
        return open_fetch
    last_full = repository.last_full_lookback(session, connection)
    full = last_full is None or now - last_full >= timedelta(hours=DAILY_PASS_EVERY_HOURS)
    sets = sets_for(settings, connection)
    window, chunks = plan.incremental_plan(settings, today, full=full, breakdowns=sets)
    if full and settings.sync_breakdown_reach_jobs > 0:
        missing = repository.breakdown_days_without_reach(
            session, connection, sets=sets, before=plan.reach_cutoff(today)
        )
        chunks += plan.reach_revisits(
            missing,
            chunk_days=settings.sync_chunk_days_daily,
            most=settings.sync_breakdown_reach_jobs,
        )
    lookback: Literal["full", "short"] = "full" if full else "short"
    return queue_fetch(
        session, settings, connection, "sync", window, chunks, now, lookback=lookback
    )


# The daily lookback pass: once a day a sync re-reads the whole daily lookback window.
DAILY_PASS_EVERY_HOURS = 23


def queue_fetch(
    session: Session,
    settings: Settings,
    connection: Connection,
    kind: str,
    window: plan.Window,
    chunks: list[ChunkState],
    now: datetime,
    *,
    lookback: Literal["full", "short"] | None = None,
) -> Fetch:
    """A new fetch, queued, with its whole plan in its checkpoint as it is inserted."""
    last = repository.last_entities_sync(session, connection)
    if last is None or now - last > timedelta(minutes=settings.sync_entities_max_age_minutes):
        chunks = [plan.chunk("entities", None), *chunks]
    tz = zone(connection.timezone)
    fetch = Fetch(
        workspace_id=connection.workspace_id,
        connection_id=connection.id,
        kind=kind,
        status=RunStatus.QUEUED,
        window_start=day_start_utc(window.since, tz),
        window_end=day_start_utc(window.until + timedelta(days=1), tz),
        checkpoint=checkpoints.dump(SyncCheckpoint(kind=kind, chunks=chunks, lookback=lookback)),
    )
    session.add(fetch)
    session.flush()
    defer_job(session, SYNC_TASK, {"fetch_id": str(fetch.id)}, queue="sync")
    return fetch


def reschedule(session: Session, fetch: Fetch, at: datetime) -> None:
    """Run ``fetch`` again at ``at`` (Meta asked us to wait, or another run holds the lock)."""
    defer_job(session, SYNC_TASK, {"fetch_id": str(fetch.id)}, queue="sync", scheduled_at=at)


def start_run(session: Session, fetch: Fetch, now: datetime) -> None:
    fetch.status = RunStatus.RUNNING
    fetch.started_at = fetch.started_at or now
    checkpoint = checkpoints.sync_of(fetch)
    checkpoint.runs.append(RunSpan(started=now))
    checkpoints.store(fetch, checkpoint)
    session.flush()


def _chunk(fetch: Fetch, index: int) -> ChunkState:
    return checkpoints.sync_of(fetch).chunks[index]


ChunkKey = tuple[str, date | None, date | None, tuple[str, ...] | None, str | None]


def chunk_key(item: ChunkState) -> ChunkKey:
    """What names a chunk of a plan whatever its place: its part, window, campaigns and
    breakdown set (no two chunks of one plan share them). Report jobs of one run end in any
    order, and a split replaces its chunk by two, moving those after it: a chunk is found
    again by its key."""
    campaigns = tuple(item.campaigns) if item.campaigns is not None else None
    return (item.part, item.since, item.until, campaigns, item.breakdown)


def locate(fetch: Fetch, key: ChunkKey) -> int | None:
    """Where the pending chunk ``key`` is now in the fetch's plan (None: it is not pending)."""
    for index, item in enumerate(checkpoints.sync_of(fetch).chunks):
        if item.status == plan.PENDING and chunk_key(item) == key:
            return index
    return None


def _save(fetch: Fetch, index: int, item: ChunkState) -> None:
    checkpoint = checkpoints.sync_of(fetch)
    checkpoint.chunks[index] = item
    checkpoints.store(fetch, checkpoint)


def backoff(settings: Settings, attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter (workers never retry in step)."""
    base = min(
        settings.sync_retry_max_seconds, settings.sync_retry_base_seconds * 2 ** (attempts - 1)
    )
    return base * (rng or random).uniform(0.5, 1.0)


@dataclass(frozen=True)
class ChunkWork:
    """What a chunk's fetch needs, read in a short transaction before Meta is asked."""

    index: int  # its place when it began (record_chunk finds it again by ``key``)
    part: str
    window: plan.Window | None
    connection_id: uuid.UUID
    account_id: str
    expected_ads: int
    ranges: tuple[tuple[date, date], ...] = ()  # a reach_ranges chunk's ranges to ask for
    campaigns: tuple[str, ...] | None = None  # an ad-level chunk split by campaigns
    breakdown: str | None = None  # a breakdown chunk's set
    # ad set external id -> its result type (the ads' daily facts count their results by it)
    result_types: dict[str, str | None] = field(default_factory=dict)
    # the entities chunk: creatives' stored thumbnails (external id -> source, sha256)
    thumbnails: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    key: ChunkKey | None = None  # chunk_key of its chunk


@dataclass
class ChunkPull:
    """What the fetch of one chunk brought from Meta: its facts (parked on disk) or its
    entities, or the failure that ended it; the calls it cost and when it ran."""

    work: ChunkWork
    fetch_started: datetime
    fetch_finished: datetime | None = None
    facts: FactSpool | None = None
    actions: ActionSpool | None = None  # daily chunks: their action figures
    breakdowns: BreakdownSpool | None = None  # breakdown chunks: their rows
    entities: EntityPull | None = None
    range_rows: list[RangeReachRow] | None = None
    error: MetaError | None = None
    rows: int = 0
    async_jobs: int = 0
    calls: int = 0

    def close(self) -> None:
        if self.facts is not None:
            self.facts.close()
        if self.actions is not None:
            self.actions.close()
        if self.breakdowns is not None:
            self.breakdowns.close()


def begin_chunk(
    session: Session,
    *,
    fetch: Fetch,
    connection: Connection,
    index: int,
    now: datetime,
    settings: Settings,
) -> ChunkWork:
    """Read what chunk ``index`` needs and mark when its fetch starts (the caller commits
    before Meta is asked: no transaction stays open across Meta's paging)."""
    item = _chunk(fetch, index)
    item.fetch_started = now
    _save(fetch, index, item)
    session.flush()
    ranges: list[tuple[date, date]] = []
    if item.part == "reach_ranges":
        refresh = fetch.kind != "sync" or checkpoints.sync_of(fetch).lookback != "short"
        today = local_today(connection, now)
        ranges = ranges_due(
            session, settings=settings, connection=connection, today=today, refresh=refresh
        )
    return ChunkWork(
        key=chunk_key(item),
        index=index,
        part=item.part,
        window=plan.chunk_window(item) if item.part != "entities" else None,
        connection_id=connection.id,
        account_id=connection.external_account_id,
        expected_ads=repository.count_ads(session, connection),
        ranges=tuple(ranges),
        campaigns=tuple(item.campaigns) if item.campaigns is not None else None,
        breakdown=item.breakdown,
        result_types=(
            repository.adset_result_types(session, connection)
            if item.part in ("ad_day", "breakdown")
            else {}
        ),
        thumbnails=(
            have_of(session, connection.workspace_id, connection.id)
            if item.part == "entities"
            else {}
        ),
    )


def pull_chunk(settings: Settings, client: MetaAdsClient, work: ChunkWork) -> ChunkPull:
    """Fetch every page of one chunk from Meta. Touches no database: the facts wait in a
    spool file for ``record_chunk``; a failure is kept, not raised."""
    pull = ChunkPull(work=work, fetch_started=datetime.now(UTC))
    calls_before, throttled_before = client.stats.calls, client.stats.throttled_seconds
    fetcher = MetaInsightsFetcher(
        client,
        account_id=work.account_id,
        expected_ads=work.expected_ads,
        options=FetchOptions(
            page_size=settings.sync_page_size,
            async_min_rows=settings.sync_async_min_rows,
            attribution_windows=settings.attribution_windows,
        ),
    )
    try:
        if work.part == "entities":
            pull.entities = pull_entities(client, work.account_id, settings, work.thumbnails)
        elif work.part == "reach_ranges":
            pull.range_rows = list(
                fetch_range_reach(
                    client, work.account_id, work.ranges, page_size=settings.sync_page_size
                )
            )
            fetcher.rows = len(pull.range_rows)
        elif work.part == "breakdown":
            assert work.window is not None and work.breakdown is not None
            pull.breakdowns = BreakdownSpool()
            pull.breakdowns.extend(
                fetcher.breakdown_rows(
                    work.breakdown,
                    work.window.since,
                    work.window.until,
                    work.campaigns,
                    work.result_types,
                )
            )
        else:
            assert work.window is not None
            since, until = work.window.since, work.window.until
            pull.facts = FactSpool()
            if work.part == "reach":
                pull.facts.extend(map(reach_fact, fetcher.reach_rows(since, until)))
            elif work.part == "ad_hour":
                rows = fetcher.ad_rows("hour", since, until, work.campaigns)
                pull.facts.extend(ad_fact(row, work.result_types) for row in rows)
            else:
                pull.actions = ActionSpool()
                rows = pull.actions.tap(fetcher.ad_day_rows(since, until, work.campaigns))
                pull.facts.extend(ad_fact(row, work.result_types) for row in rows)
    except MetaError as exc:
        pull.error = exc
        pull.close()
        pull.facts = pull.actions = pull.breakdowns = None
    except BaseException:  # the run stopped (rate_limit.Cancelled) or crashed
        pull.close()
        raise
    finally:
        pull.fetch_finished = datetime.now(UTC)
        pull.rows, pull.async_jobs = fetcher.rows, fetcher.async_jobs
        pull.calls = client.stats.calls - calls_before
        metrics.THROTTLE_WAIT.inc(client.stats.throttled_seconds - throttled_before)
        metrics.USAGE.labels(str(work.connection_id)).set(client.transport.governor.last.pct)
    return pull


def record_chunk(
    session: Session,
    *,
    settings: Settings,
    fetch: Fetch,
    connection: Connection,
    pull: ChunkPull,
) -> ChunkOutcome:
    """Write what one chunk's fetch brought, through the ingest service, and the chunk's
    state in the checkpoint: one short unit of work. A failed fetch writes only the
    checkpoint's error state (and its consequences: a retry, a dead letter, a reauth)."""
    index = pull.work.index
    if pull.work.key is not None:
        found = locate(fetch, pull.work.key)
        if found is None:
            raise LookupError("the chunk is no longer pending in the fetch's plan")
        index = found
    item = _chunk(fetch, index)
    item.attempts += 1
    item.fetch_started, item.fetch_finished = pull.fetch_started, pull.fetch_finished
    item.write_started = item.write_finished = None
    fetch.calls += pull.calls
    try:
        if pull.error is not None:
            raise pull.error
        item.write_started = datetime.now(UTC)
        if item.part == "entities":
            _refresh_entities(session, fetch, connection, item, pull.entities)
        elif item.part == "reach_ranges":
            item.rows = pull.rows
            item.inserted = record_ranges(
                session,
                connection=connection,
                ranges=pull.work.ranges,
                rows=pull.range_rows or [],
                now=datetime.now(UTC),
            )
        elif item.part == "breakdown":
            assert pull.breakdowns is not None
            written = record_breakdowns(
                session, connection=connection, fetch_id=fetch.id, item=item, spool=pull.breakdowns
            )
            item.rows = pull.rows
            item.inserted = written.written  # new or changed rows
            item.deleted = written.deleted
            item.refused = written.unknown  # rows of ads not (yet) known: skipped
            metrics.SYNC_ROWS.labels("breakdown").inc(pull.rows)
        else:
            assert pull.facts is not None
            result = upsert_facts(
                session,
                settings=settings,
                workspace_id=fetch.workspace_id,
                records=pull.facts,
                source="sync",
                connection_id=connection.id,
                fetch_id=fetch.id,
            )
            if pull.actions is not None:  # same transaction as the day's facts
                record_actions(
                    session, connection=connection, fetch_id=fetch.id, spool=pull.actions
                )
            item.rows = pull.rows
            item.inserted = result.inserted
            item.revised = result.updated
            item.refused = result.failed
            label = {"ad_hour": "hour", "ad_day": "day"}.get(item.part, "reach")
            metrics.SYNC_ROWS.labels(label).inc(pull.rows)
        item.write_finished = datetime.now(UTC)
        item.status, item.error = plan.DONE, None
        outcome = ChunkOutcome("done")
    except MetaError as exc:
        item.error = exc.message
        parts = _split(session, connection, item, exc)
        if parts:
            _replace(fetch, index, parts)
            log.warning(
                "sync chunk split",
                fetch_id=str(fetch.id),
                part=item.part,
                since=_day(item.since),
                until=_day(item.until),
                campaigns=len(item.campaigns) if item.campaigns is not None else None,
                into=len(parts),
                error=exc.message,
            )
            metrics.CHUNK_SPLITS.labels(item.part).inc()
            outcome = ChunkOutcome("split", error=exc.message)
        else:
            outcome = _on_error(session, settings, fetch, connection, item, exc)
    finally:
        pull.close()
    fetch.async_jobs += pull.async_jobs
    if outcome.status == "done" and item.part != "entities":
        fetch.rows += item.rows
    fetch.revised += item.revised if outcome.status == "done" else 0
    if outcome.status != "split":
        _save(fetch, index, item)
    session.flush()
    return outcome


# Chunks split when Meta fails their report job or refuses their size: smaller pieces
# usually pass where the same job again does not (Airbyte and PostHog do the same).
SPLIT_PARTS = frozenset({"ad_day", "ad_hour", "reach", "breakdown"})


def _split(
    session: Session, connection: Connection, item: ChunkState, exc: MetaError
) -> list[ChunkState]:
    """The pieces a failed chunk is asked as instead: its window halved (down to one day),
    then, for the ad-level parts, its campaigns halved (down to one campaign); none when the
    failure is not about the job's size or nothing is left to split."""
    if item.part not in SPLIT_PARTS or not (
        isinstance(exc, ReportFailedError) or is_too_much_data(exc)
    ):
        return []
    assert item.since is not None and item.until is not None

    def piece(**changes: Any) -> ChunkState:
        base = ChunkState(
            part=item.part, since=item.since, until=item.until, breakdown=item.breakdown
        )
        base.campaigns = item.campaigns
        for key, value in changes.items():
            setattr(base, key, value)
        return base

    if item.since < item.until:
        middle = item.since + timedelta(days=(item.until - item.since).days // 2)
        return [piece(until=middle), piece(since=middle + timedelta(days=1))]
    if item.part == "reach":  # an account's reach is no sum of its campaigns'
        return []
    campaigns = item.campaigns or repository.campaign_ids(session, connection)
    if len(campaigns) < 2:
        return []
    half = len(campaigns) // 2
    return [piece(campaigns=campaigns[:half]), piece(campaigns=campaigns[half:])]


def _replace(fetch: Fetch, index: int, parts: list[ChunkState]) -> None:
    checkpoint = checkpoints.sync_of(fetch)
    checkpoint.chunks[index : index + 1] = parts
    checkpoints.store(fetch, checkpoint)


class _EntitiesLost(MetaError):
    """The entity sync found the token or the access gone (it already marked the connection)."""

    kind = "connection_lost"


def _refresh_entities(
    session: Session,
    fetch: Fetch,
    connection: Connection,
    item: ChunkState,
    pull: EntityPull | None,
) -> None:
    """Campaigns, ad sets and ads first (their own fetch), so facts find their parents."""
    sub = Fetch(
        workspace_id=fetch.workspace_id,
        connection_id=connection.id,
        kind="entities",
        status=RunStatus.QUEUED,
    )
    session.add(sub)
    session.flush()
    done = record_entity_sync(session, fetch=sub, pull=pull)
    if done.status is RunStatus.SUCCEEDED:
        item.rows = done.rows
        return
    message = done.error or "the entity sync failed"
    if done.error_code in ("token_invalid", "permission_lost"):
        raise _EntitiesLost(message)
    raise TransientError(message)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _on_error(
    session: Session,
    settings: Settings,
    fetch: Fetch,
    connection: Connection,
    item: ChunkState,
    exc: MetaError,
) -> ChunkOutcome:
    if isinstance(exc, _EntitiesLost):
        return ChunkOutcome("fatal", error=exc.message)
    if is_connection_lost(exc):
        token = session.get(Token, connection.token_id) if connection.token_id else None
        if is_token_invalid(exc) and token is not None:
            token_invalid(session, token, exc.message, revoked=is_token_revoked(exc))
        else:
            mark_needs_reauth(session, connection, exc.message)
        return ChunkOutcome("fatal", error=exc.message)
    retryable = is_retryable(exc)
    if retryable and item.attempts < settings.sync_chunk_attempts:
        wait = backoff(settings, item.attempts)
        if isinstance(exc, ThrottledError):
            wait = max(wait, exc.retry_after)  # Meta's regain-access estimate comes first
        log.warning(
            "sync chunk failed, will retry",
            fetch_id=str(fetch.id),
            part=item.part,
            since=_day(item.since),
            attempts=item.attempts,
            wait_seconds=round(wait, 1),
            error=exc.message,
        )
        return ChunkOutcome("retry", wait=wait, error=exc.message)
    item.status = plan.FAILED
    context = {
        "connection_id": str(connection.id),
        "account_id": connection.external_account_id,
        "fetch_id": str(fetch.id),
        "part": item.part,
        "since": _day(item.since),
        "until": _day(item.until),
        "attempts": item.attempts,
    }
    errors = [{"field": "chunk", "reason": exc.message, "code": exc.kind}]
    repository.dead_letter_chunk(session, fetch, context, errors)
    raise_alert(
        session,
        workspace_id=fetch.workspace_id,
        kind=ALERT_KIND,
        key=str(connection.id),
        severity=Severity.WARNING,
        message=f"{connection.name}: a sync chunk ({item.part} {_day(item.since)} to "
        f"{_day(item.until)}) failed {item.attempts} times: {exc.message}",
        details=context,
        connection_id=connection.id,
    )
    log.error("sync chunk dead-lettered", **context, error=exc.message)
    return ChunkOutcome("failed", error=exc.message)


def finish(
    session: Session,
    *,
    fetch: Fetch,
    connection: Connection | None,
    now: datetime,
    error: str | None,
) -> Fetch:
    """Close the fetch: outcome, counts, duration; the connection's sync times and alerts."""
    checkpoint = checkpoints.sync_of(fetch)
    summary = plan.totals(checkpoint)
    fatal = error is not None and summary["done"] + summary["failed"] < summary["chunks"]
    if fatal or (summary["failed"] and not summary["done"]):
        fetch.status = RunStatus.FAILED
    elif summary["failed"]:
        fetch.status = RunStatus.PARTIAL
    else:
        fetch.status = RunStatus.SUCCEEDED
    failed_errors = [c.error or "" for c in checkpoint.chunks if c.status == plan.FAILED]
    fetch.error = error or (failed_errors[0] if failed_errors else None)
    fetch.error_code = "connection_lost" if fatal else "chunks_failed" if failed_errors else None
    fetch.finished_at = now
    if checkpoint.runs:
        run = checkpoint.runs[-1]
        run.finished = now
        elapsed = int((now - run.started).total_seconds() * 1000)
        fetch.duration_ms = (fetch.duration_ms or 0) + elapsed
        checkpoint.totals = summary
        checkpoints.store(fetch, checkpoint)
    if connection is not None:
        connection.last_sync_at = now
        connection.next_sync_at = now + timedelta(minutes=connection.sync_interval_minutes)
        if fetch.status is RunStatus.SUCCEEDED:
            connection.last_success_at = now
            connection.last_error = None
            resolve_alert(
                session, workspace_id=fetch.workspace_id, kind=ALERT_KIND, key=str(connection.id)
            )
        else:
            connection.last_error = fetch.error
        if fetch.status is not RunStatus.FAILED:  # validate what this sync stored (quality/)
            request_validation(session, connection=connection)
    metrics.SYNC_RUNS.labels(fetch.status.value).inc()
    metrics.SYNC_DURATION.observe((fetch.duration_ms or 0) / 1000)
    session.flush()
    log.info(
        "metrics sync finished",
        fetch_id=str(fetch.id),
        kind=fetch.kind,
        status=fetch.status.value,
        calls=fetch.calls,
        rows=fetch.rows,
        revised=fetch.revised,
        async_jobs=fetch.async_jobs,
        duration_ms=fetch.duration_ms,
        chunks=summary["chunks"],
        chunks_done=summary["done"],
        chunks_failed=summary["failed"],
    )
    return fetch
