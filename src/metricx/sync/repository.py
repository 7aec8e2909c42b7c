"""SQL of the metrics sync. Every query of workspace data is scoped by workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection as DbConnection
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from metricx.jobs.stalled import LIVE_WORKER_SQL, STALLED_AFTER_SECONDS
from metricx.models import (
    Connection,
    ConnectionStatus,
    Entity,
    FailedRecord,
    FailedRecordStatus,
    Fetch,
    Import,
    ImportStatus,
    RunStatus,
)

SYNC_KINDS = ("backfill", "sync", "gap_fill")
OPEN = (RunStatus.QUEUED, RunStatus.RUNNING)


def lock_key(connection_id: uuid.UUID) -> int:
    """The advisory-lock key of one connection's metrics sync (a signed bigint)."""
    return int.from_bytes(connection_id.bytes[:8], "big", signed=True)


def try_session_lock(conn: DbConnection, connection_id: uuid.UUID) -> bool:
    """Held by the connection (the database session) until released or the process dies:
    a killed worker frees it with its socket."""
    return bool(
        conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(connection_id)}
        ).scalar_one()
    )


def release_session_lock(conn: DbConnection, connection_id: uuid.UUID) -> None:
    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(connection_id)})


def lock_is_free(session: Session, connection_id: uuid.UUID) -> bool:
    """True when no process runs this connection's sync (takes and drops a transaction lock)."""
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key(connection_id)}
        ).scalar_one()
    )


_PENDING_JOB = text(
    "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.task_name = :task"
    " AND j.args->>'fetch_id' = :fetch AND (j.status = 'todo' OR (j.status = 'doing' AND "
    + LIVE_WORKER_SQL.format(job="j", seconds=":seconds")
    + ")))"
)


def has_pending_job(session: Session, fetch_id: uuid.UUID, task_name: str) -> bool:
    """True when a job of ``task_name`` for this fetch waits in the queue, or a live worker
    runs it (a dead worker's job, even one it picked up but never started, does not count)."""
    params = {"task": task_name, "fetch": str(fetch_id), "seconds": STALLED_AFTER_SECONDS}
    return bool(session.execute(_PENDING_JOB, params).scalar_one())


def connection_in(
    session: Session, workspace_id: uuid.UUID, connection_id: uuid.UUID
) -> Connection | None:
    return session.scalars(
        select(Connection).where(
            Connection.workspace_id == workspace_id, Connection.id == connection_id
        )
    ).one_or_none()


def fetch_for_update(session: Session, fetch_id: uuid.UUID) -> Fetch | None:
    return session.get(Fetch, fetch_id, with_for_update=True, populate_existing=True)


def fetch_in(session: Session, workspace_id: uuid.UUID, fetch_id: uuid.UUID) -> Fetch | None:
    return session.scalars(
        select(Fetch).where(Fetch.workspace_id == workspace_id, Fetch.id == fetch_id)
    ).one_or_none()


def adset_result_types(session: Session, connection: Connection) -> dict[str, str | None]:
    """The connection's ad sets' result types (what their ads' facts count as results), by
    external id."""
    rows = session.execute(
        select(Entity.external_id, Entity.result_type).where(
            Entity.workspace_id == connection.workspace_id,
            Entity.connection_id == connection.id,
            Entity.level == "adset",
        )
    )
    return {ext: kind for ext, kind in rows}


def campaign_ids(session: Session, connection: Connection) -> list[str]:
    """The external ids of the connection's campaigns (those removed too: their ads' past
    days are still Meta's), in a stable order."""
    return list(
        session.scalars(
            select(Entity.external_id)
            .where(
                Entity.workspace_id == connection.workspace_id,
                Entity.connection_id == connection.id,
                Entity.level == "campaign",
            )
            .order_by(Entity.external_id)
        )
    )


def count_ads(session: Session, connection: Connection) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Entity)
            .where(
                Entity.workspace_id == connection.workspace_id,
                Entity.connection_id == connection.id,
                Entity.level == "ad",
                Entity.removed_at.is_(None),
            )
        )
        or 0
    )


def last_entities_sync(session: Session, connection: Connection) -> datetime | None:
    return session.scalar(
        select(func.max(Fetch.finished_at)).where(
            Fetch.workspace_id == connection.workspace_id,
            Fetch.connection_id == connection.id,
            Fetch.kind == "entities",
            Fetch.status == RunStatus.SUCCEEDED,
        )
    )


def has_backfill(session: Session, connection: Connection) -> bool:
    return (
        session.scalar(
            select(Fetch.id)
            .where(
                Fetch.workspace_id == connection.workspace_id,
                Fetch.connection_id == connection.id,
                Fetch.kind == "backfill",
            )
            .limit(1)
        )
        is not None
    )


def last_full_lookback(session: Session, connection: Connection) -> datetime | None:
    """When the connection's last sync that re-read the whole daily lookback was queued
    (a backfill counts: it read at least as much)."""
    value: datetime | None = session.scalar(
        select(func.max(Fetch.created_at)).where(
            Fetch.workspace_id == connection.workspace_id,
            Fetch.connection_id == connection.id,
            Fetch.status.in_([RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.RUNNING]),
            (Fetch.kind == "backfill") | (Fetch.checkpoint["lookback"].astext == "full"),
        )
    )
    return value


def open_sync(session: Session, connection: Connection) -> Fetch | None:
    return session.scalars(
        select(Fetch)
        .where(
            Fetch.workspace_id == connection.workspace_id,
            Fetch.connection_id == connection.id,
            Fetch.kind.in_(SYNC_KINDS),
            Fetch.status.in_(OPEN),
        )
        .order_by(Fetch.created_at)
        .limit(1)
    ).first()


def due_connections(session: Session, now: datetime, limit: int = 500) -> list[Connection]:
    """Active, sync-enabled connections with a token whose next sync time has come."""
    return list(
        session.scalars(
            select(Connection)
            .where(
                Connection.status == ConnectionStatus.ACTIVE,
                Connection.sync_enabled.is_(True),
                Connection.token_id.is_not(None),
                (Connection.next_sync_at.is_(None)) | (Connection.next_sync_at <= now),
            )
            .order_by(Connection.next_sync_at.nulls_first())
            .limit(limit)
        )
    )


def active_connections(session: Session) -> list[Connection]:
    return list(
        session.scalars(
            select(Connection).where(
                Connection.status == ConnectionStatus.ACTIVE,
                Connection.sync_enabled.is_(True),
                Connection.token_id.is_not(None),
            )
        )
    )


def running_syncs(session: Session) -> list[Fetch]:
    return list(
        session.scalars(select(Fetch).where(Fetch.kind.in_(SYNC_KINDS), Fetch.status.in_(OPEN)))
    )


def fact_days(
    session: Session, connection: Connection, granularity: str, since: date, until: date
) -> set[date]:
    """Local days (the account's zone) holding at least one ad-level fact."""
    rows = session.execute(
        text(
            """
            SELECT DISTINCT (f.event_at AT TIME ZONE :tz)::date
            FROM metric_facts f JOIN entities e ON e.id = f.entity_id
            WHERE f.workspace_id = :ws AND e.connection_id = :cid AND f.level = 'ad'
              AND f.granularity = :g
              AND f.event_at >= (CAST(:since AS date)::timestamp AT TIME ZONE :tz)
              AND f.event_at < ((CAST(:until AS date) + 1)::timestamp AT TIME ZONE :tz)
            """
        ),
        {
            "tz": connection.timezone,
            "ws": connection.workspace_id,
            "cid": connection.id,
            "g": granularity,
            "since": since,
            "until": until,
        },
    )
    return {r[0] for r in rows}


def breakdown_days_without_reach(
    session: Session, connection: Connection, *, sets: Sequence[str], before: date
) -> dict[str, list[date]]:
    """Per breakdown set, the days before ``before`` some of whose rows with impressions were
    stored without reach (Meta left it out: a query starting over 13 months back)."""
    if not sets:
        return {}
    rows = session.execute(
        text(
            """
            SELECT DISTINCT f.breakdown, f.day FROM breakdown_facts f
            WHERE f.workspace_id = :ws AND f.breakdown = ANY(:sets) AND f.day < :before
              AND f.reach IS NULL AND f.impressions > 0
              AND f.entity_id IN (SELECT e.id FROM entities e WHERE e.workspace_id = :ws
                                  AND e.connection_id = :cid AND e.level = 'ad')
            """
        ),
        {"ws": connection.workspace_id, "cid": connection.id, "sets": list(sets), "before": before},
    )
    out: dict[str, list[date]] = {}
    for name, day in rows:
        out.setdefault(name, []).append(day)
    return out


def gap_fill_windows(session: Session, connection: Connection) -> list[tuple[datetime, datetime]]:
    """The windows earlier gap fills covered (so a day Meta has no data for is asked once)."""
    rows = session.execute(
        select(Fetch.window_start, Fetch.window_end).where(
            Fetch.workspace_id == connection.workspace_id,
            Fetch.connection_id == connection.id,
            Fetch.kind == "gap_fill",
            Fetch.status != RunStatus.FAILED,
        )
    )
    return [(r[0], r[1]) for r in rows if r[0] is not None and r[1] is not None]


def imports_of(
    session: Session,
    workspace_id: uuid.UUID,
    connection_id: uuid.UUID,
    fetch_id: uuid.UUID | None = None,
    limit: int = 200,
) -> list[Import]:
    stmt = select(Import).where(
        Import.workspace_id == workspace_id, Import.connection_id == connection_id
    )
    if fetch_id is not None:
        stmt = stmt.where(Import.fetch_id == fetch_id)
    return list(session.scalars(stmt.order_by(Import.created_at.desc()).limit(limit)))


def dead_letter_chunk(
    session: Session, fetch: Fetch, context: dict[str, Any], errors: Sequence[dict[str, Any]]
) -> Import:
    """A failed chunk in the dead-letter store: an import of 1 failed record whose payload is
    the chunk's context (connection, account, part, window, attempts), replayable."""
    imp = Import(
        workspace_id=fetch.workspace_id,
        source="sync",
        connection_id=fetch.connection_id,
        fetch_id=fetch.id,
        status=ImportStatus.FAILED,
        received=1,
        failed=1,
        response={"chunk": context, "errors": list(errors)},
    )
    session.add(imp)
    session.flush()
    session.add(
        FailedRecord(
            workspace_id=fetch.workspace_id,
            import_id=imp.id,
            record_index=0,
            payload=context,
            errors=list(errors),
            status=FailedRecordStatus.PENDING,
        )
    )
    session.flush()
    return imp
