"""Running one sync fetch to its end: the job body, shared by the worker task and the CLI.

At most one sync per connection runs at a time, across any number of worker processes and
machines: the run holds a PostgreSQL advisory lock keyed by the connection on a dedicated
database session for its whole life. A second job for the same connection finds the lock
taken and re-schedules itself a little later; a killed worker's lock goes with its socket, and
the periodic pass (scheduler.py) re-queues its fetch, which resumes from the checkpoint.

Each chunk is fetched first and written after: a short transaction reads what it needs, every
page comes from Meta with no transaction open (and no lock held but the connection's advisory
lock, which blocks nothing but a second run of the same connection), then one short
transaction writes the chunk's facts through the ingest service and its checkpoint together.
Meta's latency never holds the workspace's fact-writer lock, so several accounts of one
workspace and API ingests into it proceed side by side.

Up to ``sync_report_concurrency`` chunks are fetched at once, each on its own thread and
Meta client (its own report job, its own spool file); the clients share one rate governor,
so near Meta's limit they slow down together and a throttling error makes all of them wait.
Only this thread opens database sessions: it begins each chunk and writes each fetched one,
one at a time, in whatever order they come in; a chunk is found in the checkpoint again by
its key (service.chunk_key), as a split may have moved it. A run that stops (a crash, a
deferral, a lost token) drops the chunks still being fetched: they are pending in the
checkpoint, and the next run fetches them. A retry wait up to
``sync_inline_wait_max_seconds`` is slept here; a longer one (Meta's regain-access estimate)
re-schedules the job at that time and frees the worker.

A worker that is stopping (SIGTERM, Ctrl+C: ``metricx.jobs.context.PROCESS_STOP``) does not
wait for the run: the chunks being fetched are dropped at their next call to Meta or their
next wait, the chunks already written stay written, and the fetch is queued again at once,
for the next worker to resume from its checkpoint.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.connections.tokens import ClientFactory, default_client_factory, reveal
from metricx.db import unit_of_work
from metricx.facts.statistics import analyze_stale_tables
from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.rate_limit import Cancelled, UsageGovernor
from metricx.jobs.context import PROCESS_STOP, StopSignal
from metricx.logging import get_logger
from metricx.models import Connection, Fetch, RunStatus, Token
from metricx.runtime import Runtime
from metricx.sync import checkpoints, plan, repository, service

log = get_logger("metricx.sync")


def run_fetch(
    runtime: Runtime,
    fetch_id: uuid.UUID,
    *,
    client_factory: ClientFactory = default_client_factory,
    sleep: Callable[[float], None] = time.sleep,
    lock_busy_delay: timedelta | None = None,
    stop: StopSignal = PROCESS_STOP,
) -> str | None:
    """Run the sync fetch ``fetch_id`` until done, failed or re-scheduled; its final status
    ("deferred" when it was put back for later, ``stop`` requested included), or None when
    there was nothing to do."""
    with unit_of_work(runtime.sessions) as session:
        fetch = session.get(Fetch, fetch_id)
        if fetch is None or fetch.status not in repository.OPEN or fetch.connection_id is None:
            return None
        connection_id = fetch.connection_id
    with runtime.engine.connect() as lock_conn:
        if not repository.try_session_lock(lock_conn, connection_id):
            with unit_of_work(runtime.sessions) as session:
                fetch = repository.fetch_for_update(session, fetch_id)
                if fetch is not None and fetch.status in repository.OPEN:
                    delay = lock_busy_delay or timedelta(
                        seconds=runtime.settings.sync_lock_retry_seconds
                    )
                    service.reschedule(session, fetch, datetime.now(UTC) + delay)
            log.info("connection busy, sync deferred", fetch_id=str(fetch_id))
            return "deferred"
        lock_conn.commit()  # the advisory lock is session-level: it outlives this transaction
        try:
            return _run_locked(runtime, fetch_id, client_factory, sleep, stop)
        finally:
            repository.release_session_lock(lock_conn, connection_id)
            lock_conn.commit()


def _client(runtime: Runtime, connection: Connection, factory: ClientFactory) -> MetaAdsClient:
    with unit_of_work(runtime.sessions) as session:
        token = session.get(Token, connection.token_id) if connection.token_id else None
        if token is None:
            raise LookupError("the connection has no token")
        return factory(runtime.settings, reveal(runtime.cipher, token))


def _run_locked(
    runtime: Runtime,
    fetch_id: uuid.UUID,
    client_factory: ClientFactory,
    sleep: Callable[[float], None],
    stop: StopSignal,
) -> str | None:
    settings = runtime.settings
    with unit_of_work(runtime.sessions) as session:
        fetch = repository.fetch_for_update(session, fetch_id)
        if fetch is None or fetch.status not in repository.OPEN:
            return None  # another run finished it while we waited for the lock
        connection = session.get(Connection, fetch.connection_id)
        service.start_run(session, fetch, datetime.now(UTC))
        if connection is None or connection.token_id is None:
            service.finish(
                session,
                fetch=fetch,
                connection=connection,
                now=datetime.now(UTC),
                error="the connection has no token",
            )
            return fetch.status.value
        session.expunge(connection)
    width = max(1, settings.sync_report_concurrency)
    clients = [_client(runtime, connection, client_factory) for _ in range(width)]
    governor = clients[0].transport.governor
    for other in clients[1:]:
        other.transport.share_governor(governor)
    flight = _Flight(width, governor, sleep)
    try:
        with stop.on_stop(governor.cancel):  # a chunk in flight drops its next call or wait
            outcome = _run_chunks(runtime, fetch_id, connection.id, clients, flight, stop)
    finally:
        flight.stop()
    _refresh_statistics(runtime, fetch_id)
    return outcome


def _refresh_statistics(runtime: Runtime, fetch_id: uuid.UUID) -> None:
    """The tables the sync filled, analyzed now rather than at the worker's next minute
    (facts.statistics); a failure here is logged, the sync's outcome stands."""
    try:
        with unit_of_work(runtime.sessions) as session:
            analyzed = analyze_stale_tables(session, share=runtime.settings.stats_refresh_share)
    except SQLAlchemyError as exc:
        log.warning("planner statistics not refreshed", fetch_id=str(fetch_id), error=str(exc))
        return
    if analyzed:
        log.info("planner statistics refreshed", fetch_id=str(fetch_id), tables=analyzed)


# Parts that run alone: the entities first (the facts find their parents), the ranges' reach
# last (the days are in by then). Chunks after one wait for it; it waits for those before.
ALONE = frozenset({"entities", "reach_ranges"})


def pick(checkpoint: checkpoints.SyncCheckpoint, busy: set[service.ChunkKey]) -> int | None:
    """The next pending chunk to start while the chunks ``busy`` are being fetched: the first
    pending one not busy, never past a chunk that runs alone (ALONE), which starts only when
    nothing is busy. None: nothing to start now."""
    for index, item in enumerate(checkpoint.chunks):
        if item.status != plan.PENDING:
            continue
        key = service.chunk_key(item)
        if item.part in ALONE:
            return None if busy else index
        if key not in busy:
            return index
    return None


class _Flight:
    """The chunks being fetched, each on its own client and thread (one chunk: inline)."""

    def __init__(self, width: int, governor: UsageGovernor, sleep: Callable[[float], None]) -> None:
        self.width = width
        self.governor = governor
        self.sleep = sleep
        self.pool = ThreadPoolExecutor(width, "metricx-sync") if width > 1 else None
        self.running: dict[Future[service.ChunkPull], service.ChunkWork] = {}
        self.idle: list[int] = list(range(width))  # which client is free
        self.slot: dict[Future[service.ChunkPull], int] = {}

    @property
    def busy(self) -> set[service.ChunkKey]:
        return {work.key for work in self.running.values() if work.key is not None}

    @property
    def full(self) -> bool:
        return len(self.running) >= self.width

    def start(
        self,
        settings: Settings,
        clients: list[MetaAdsClient],
        work: service.ChunkWork,
        wait: float,
    ) -> None:
        slot = self.idle.pop()
        client = clients[slot]

        def job() -> service.ChunkPull:
            self.governor.job_started()
            try:
                if wait > 0:
                    self.governor.rest(wait, self.sleep)
                return service.pull_chunk(settings, client, work)
            finally:
                self.governor.job_finished()

        future: Future[service.ChunkPull] = Future()
        if self.pool is None:
            try:
                future.set_result(job())
            except Exception as exc:
                future.set_exception(exc)
        else:
            future = self.pool.submit(job)
        self.running[future] = work
        self.slot[future] = slot

    def next_done(self) -> tuple[service.ChunkWork, service.ChunkPull]:
        """A fetched chunk (the first begun of those done); raises what its thread raised."""
        done, _ = wait(self.running, return_when=FIRST_COMPLETED)
        future = min(done, key=lambda f: self.running[f].index)
        work = self.running.pop(future)
        self.idle.append(self.slot.pop(future))
        return work, future.result()

    def stop(self) -> None:
        """Drop what is still being fetched (its chunks stay pending in the checkpoint, fetched
        again by the next run) and end the threads."""
        if self.running:
            self.governor.cancel()
        for future in list(self.running):
            try:
                future.result()
            except BaseException:  # Cancelled, or the failure the run is raising
                pass
            else:
                future.result().close()
        self.running.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _run_chunks(
    runtime: Runtime,
    fetch_id: uuid.UUID,
    connection_id: uuid.UUID,
    clients: list[MetaAdsClient],
    flight: _Flight,
    stop: StopSignal,
) -> str | None:
    """Up to ``sync_report_concurrency`` chunks fetched at once; each written, with its
    checkpoint, as soon as it is fetched, one at a time (the writes are this thread's)."""
    settings = runtime.settings
    waits: dict[service.ChunkKey, float] = {}  # a chunk to retry: how long to wait first
    while True:
        if stop.requested:
            return _put_back(runtime, fetch_id)
        # 1. The chunks to start, each read in a short transaction.
        while not flight.full:
            with unit_of_work(runtime.sessions) as session:
                fetch = repository.fetch_for_update(session, fetch_id)
                connection = session.get(Connection, connection_id)
                if fetch is None or connection is None:
                    return None
                checkpoint = checkpoints.sync_of(fetch)
                pending = pick(checkpoint, flight.busy)
                if pending is None:
                    if flight.running or plan.next_pending(checkpoint) is not None:
                        break
                    service.finish(
                        session,
                        fetch=fetch,
                        connection=connection,
                        now=datetime.now(UTC),
                        error=None,
                    )
                    return fetch.status.value
                work = service.begin_chunk(
                    session,
                    fetch=fetch,
                    connection=connection,
                    index=pending,
                    now=datetime.now(UTC),
                    settings=settings,
                )
                session.expunge(connection)
            # 2. Every page from Meta: no transaction open, no lock held but the connection's.
            wait_first = waits.pop(work.key, 0.0) if work.key is not None else 0.0
            flight.start(settings, clients, work, wait_first)
        # 3. A fetched chunk's facts and checkpoint, in a second short transaction.
        try:
            work, pull = flight.next_done()
        except Cancelled:
            if stop.requested:
                return _put_back(runtime, fetch_id)
            raise
        # Written even when a stop came meanwhile: a fetched chunk is not asked for again.
        with unit_of_work(runtime.sessions) as session:
            fetch = repository.fetch_for_update(session, fetch_id)
            connection = session.get(Connection, connection_id)
            if fetch is None or connection is None:
                pull.close()
                return None
            outcome = service.record_chunk(
                session, settings=settings, fetch=fetch, connection=connection, pull=pull
            )
            if outcome.status == "fatal":
                service.finish(
                    session,
                    fetch=fetch,
                    connection=connection,
                    now=datetime.now(UTC),
                    error=outcome.error,
                )
                return fetch.status.value
            if outcome.status == "retry" and outcome.wait > settings.sync_inline_wait_max_seconds:
                at = datetime.now(UTC) + timedelta(seconds=outcome.wait)
                _requeue(session, fetch, at)
                log.info("sync re-scheduled", fetch_id=str(fetch_id), at=at.isoformat())
                return "deferred"
            session.expunge(connection)
        if outcome.status == "retry" and work.key is not None:
            waits[work.key] = outcome.wait


def _requeue(session: Session, fetch: Fetch, at: datetime) -> None:
    fetch.status = RunStatus.QUEUED
    service.reschedule(session, fetch, at)


def _put_back(runtime: Runtime, fetch_id: uuid.UUID) -> str | None:
    """The worker is stopping: the fetch queued again now, for the next worker to resume
    (its pending chunks are pending in the checkpoint)."""
    with unit_of_work(runtime.sessions) as session:
        fetch = repository.fetch_for_update(session, fetch_id)
        if fetch is None or fetch.status not in repository.OPEN:
            return None
        _requeue(session, fetch, datetime.now(UTC))
    log.info("sync put back: the worker is stopping", fetch_id=str(fetch_id))
    return "deferred"
