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
workspace and API ingests into it proceed side by side. A retry wait up to
``sync_inline_wait_max_seconds`` is slept here; a longer one (Meta's regain-access estimate)
re-schedules the job at that time and frees the worker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from metricx.connections.tokens import ClientFactory, default_client_factory, reveal
from metricx.db import unit_of_work
from metricx.integrations.meta.client import MetaAdsClient
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
) -> str | None:
    """Run the sync fetch ``fetch_id`` until done, failed or re-scheduled; its final status
    ("deferred" when it was put back for later), or None when there was nothing to do."""
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
            return _run_locked(runtime, fetch_id, client_factory, sleep)
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
    client = _client(runtime, connection, client_factory)
    while True:
        # 1. What the next chunk needs, in a short transaction.
        with unit_of_work(runtime.sessions) as session:
            fetch = repository.fetch_for_update(session, fetch_id)
            connection = session.get(Connection, connection.id)
            if fetch is None or connection is None:
                return None
            pending = plan.next_pending(checkpoints.sync_of(fetch))
            if pending is None:
                service.finish(
                    session, fetch=fetch, connection=connection, now=datetime.now(UTC), error=None
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
        pull = service.pull_chunk(settings, client, work)
        # 3. The facts and the checkpoint, in a second short transaction.
        with unit_of_work(runtime.sessions) as session:
            fetch = repository.fetch_for_update(session, fetch_id)
            connection = session.get(Connection, connection.id)
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
                fetch.status = RunStatus.QUEUED
                service.reschedule(session, fetch, at)
                log.info("sync re-scheduled", fetch_id=str(fetch_id), at=at.isoformat())
                return "deferred"
            session.expunge(connection)
        if outcome.status == "retry":
            sleep(outcome.wait)
