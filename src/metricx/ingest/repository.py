"""All SQL of ingestion: entities by reference, imports and the dead-letter store (the facts
themselves are written by ``metricx.facts.writer``). Every query is scoped by workspace."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from psycopg.types.json import Jsonb
from sqlalchemy import ARRAY, Executable, Text, cast, func, literal, select, text
from sqlalchemy.orm import Session

from metricx.facts.writer import driver_connection
from metricx.models import Connection, Entity, FailedRecord, Import, ImportStatus, Workspace

ExternalRef = tuple[str, str, str]  # (provider, level, external_id)


@dataclass(frozen=True, slots=True)
class EntityRef:
    id: uuid.UUID
    provider: str
    level: str
    external_id: str
    connection_id: uuid.UUID | None
    parent_id: uuid.UUID | None = None


S = TypeVar("S", bound=Executable)


def in_workspace(stmt: S, model: Any, workspace_id: uuid.UUID) -> S:
    """The one tenant filter every query of this domain goes through."""
    return stmt.where(model.workspace_id == workspace_id)  # type: ignore[attr-defined]


def workspace(session: Session, workspace_id: uuid.UUID) -> Workspace | None:
    return session.get(Workspace, workspace_id)


def connection_in(
    session: Session, workspace_id: uuid.UUID, connection_id: uuid.UUID
) -> Connection | None:
    stmt = in_workspace(select(Connection), Connection, workspace_id)
    return session.scalar(stmt.where(Connection.id == connection_id))


def connections_in(
    session: Session, workspace_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> list[Connection]:
    stmt = in_workspace(select(Connection), Connection, workspace_id)
    return list(session.scalars(stmt.where(Connection.id.in_(list(ids)))))


_ENTITY_COLUMNS = (
    Entity.id,
    Entity.provider,
    Entity.level,
    Entity.external_id,
    Entity.connection_id,
    Entity.parent_id,
)


def _ref(row: Any) -> EntityRef:
    return EntityRef(row[0], str(row[1]), str(row[2]), row[3], row[4], row[5])


def entities_by_id(
    session: Session, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[EntityRef]:
    stmt = in_workspace(select(*_ENTITY_COLUMNS), Entity, workspace_id)
    return [_ref(r) for r in session.execute(stmt.where(Entity.id.in_(ids)))]


def entities_by_external(
    session: Session, workspace_id: uuid.UUID, refs: Sequence[ExternalRef]
) -> list[EntityRef]:
    def column(i: int) -> Any:
        return func.unnest(cast(literal([r[i] for r in refs], ARRAY(Text)), ARRAY(Text)))

    wanted = select(column(0).label("p"), column(1).label("l"), column(2).label("e")).subquery()
    stmt = in_workspace(select(*_ENTITY_COLUMNS), Entity, workspace_id).join(
        wanted,
        (Entity.provider == wanted.c.p)
        & (Entity.level == wanted.c.l)
        & (Entity.external_id == wanted.c.e),
    )
    return [_ref(r) for r in session.execute(stmt)]


def create_entities(
    session: Session,
    workspace_id: uuid.UUID,
    refs: Sequence[ExternalRef],
    connection_id: uuid.UUID | None,
    parents: Mapping[ExternalRef, uuid.UUID] | None = None,
) -> list[EntityRef]:
    """Insert the entities not there yet in one statement, each under its parent in
    ``parents`` (if named there); return those this call created."""
    parents = parents or {}
    rows = session.execute(
        text(
            "INSERT INTO entities"
            " (id, workspace_id, connection_id, provider, level, external_id, parent_id)"
            " SELECT gen_random_uuid(), :ws, :conn, p, l, e, parent"
            " FROM unnest(CAST(:p AS text[]), CAST(:l AS text[]), CAST(:e AS text[]),"
            " CAST(:parent AS uuid[])) AS t(p, l, e, parent)"
            " ON CONFLICT (workspace_id, provider, level, external_id) DO NOTHING"
            " RETURNING id, provider, level, external_id, connection_id, parent_id"
        ),
        {
            "ws": workspace_id,
            "conn": connection_id,
            "p": [r[0] for r in refs],
            "l": [r[1] for r in refs],
            "e": [r[2] for r in refs],
            "parent": [parents.get(r) for r in refs],
        },
    )
    return [_ref(r) for r in rows]


def attach_to_parents(
    session: Session, workspace_id: uuid.UUID, parents: Mapping[uuid.UUID, uuid.UUID]
) -> None:
    """Give entities that have no parent the one named (entity id -> parent id); one that got
    a parent meanwhile (an entity sync) keeps it."""
    session.execute(
        text(
            "UPDATE entities e SET parent_id = t.parent, updated_at = now()"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:parents AS uuid[])) AS t(id, parent)"
            " WHERE e.workspace_id = :ws AND e.id = t.id AND e.parent_id IS NULL"
        ),
        {"ws": workspace_id, "ids": list(parents), "parents": list(parents.values())},
    )


def import_by_key(session: Session, workspace_id: uuid.UUID, key: str) -> Import | None:
    stmt = in_workspace(select(Import), Import, workspace_id)
    return session.scalar(stmt.where(Import.idempotency_key == key))


def import_in(session: Session, workspace_id: uuid.UUID, import_id: uuid.UUID) -> Import | None:
    stmt = in_workspace(select(Import), Import, workspace_id)
    return session.scalar(stmt.where(Import.id == import_id))


def imports_of(
    session: Session,
    workspace_id: uuid.UUID,
    *,
    status: ImportStatus | None,
    limit: int,
    offset: int,
) -> list[Import]:
    stmt = in_workspace(select(Import), Import, workspace_id)
    if status is not None:
        stmt = stmt.where(Import.status == status)
    stmt = stmt.order_by(Import.created_at.desc(), Import.id).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def count_unsuccessful_since(session: Session, workspace_id: uuid.UUID, since: datetime) -> int:
    stmt = in_workspace(select(func.count()).select_from(Import), Import, workspace_id).where(
        Import.status.in_([ImportStatus.FAILED, ImportStatus.PARTIAL]),
        Import.finished_at >= since,
    )
    return int(session.scalar(stmt) or 0)


FAILED_COLUMNS = ("id", "workspace_id", "import_id", "record_index", "payload", "errors", "status")
JSON_COLUMNS = frozenset({"payload", "errors"})


def add_failed_records(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Dead-letter ``rows`` (dicts of ``FAILED_COLUMNS``) by COPY: a batch of bad records is
    as large as a good one, and row-by-row inserts ran at 8k/s."""
    if not rows:
        return
    columns = [(c, c in JSON_COLUMNS) for c in FAILED_COLUMNS]
    copy = f"COPY failed_records ({', '.join(FAILED_COLUMNS)}) FROM STDIN"
    with driver_connection(session).cursor() as cur, cur.copy(copy) as cp:
        for row in rows:
            cp.write_row([Jsonb(row[c]) if js else row[c] for c, js in columns])


def failed_record_in(
    session: Session, workspace_id: uuid.UUID, record_id: uuid.UUID
) -> FailedRecord | None:
    stmt = in_workspace(select(FailedRecord), FailedRecord, workspace_id)
    return session.scalar(stmt.where(FailedRecord.id == record_id).with_for_update())


def failed_records_of(
    session: Session,
    workspace_id: uuid.UUID,
    *,
    status: str | None,
    import_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> list[FailedRecord]:
    stmt = in_workspace(select(FailedRecord), FailedRecord, workspace_id)
    if status is not None:
        stmt = stmt.where(FailedRecord.status == status)
    if import_id is not None:
        stmt = stmt.where(FailedRecord.import_id == import_id)
    stmt = stmt.order_by(FailedRecord.created_at.desc(), FailedRecord.record_index)
    return list(session.scalars(stmt.limit(limit).offset(offset)))


# -- quotas (metricx.ingest.quotas): each call is its own short transaction on ``conn`` -------
# A bucket refills at ``rate`` per minute up to ``rate`` (a minute's worth), from refilled_at.
def _refilled(column: str, rate: str) -> str:
    return (
        f"LEAST({rate}, q.{column} + {rate} / 60.0"
        f" * GREATEST(0, EXTRACT(EPOCH FROM now() - q.refilled_at)))"
    )


_TAKE_REQUEST = text(
    "INSERT INTO ingest_quotas AS q"
    " (workspace_id, request_tokens, record_tokens, refilled_at, failed_stored)"
    " VALUES (:ws, :rq - 1, :rc, now(), 0)"
    " ON CONFLICT (workspace_id) DO UPDATE SET"
    f" request_tokens = {_refilled('request_tokens', ':rq')} - 1,"
    f" record_tokens = {_refilled('record_tokens', ':rc')},"
    " refilled_at = now()"
    f" WHERE {_refilled('request_tokens', ':rq')} >= 1"
    f" AND {_refilled('record_tokens', ':rc')} > 0"
    " RETURNING q.request_tokens"
)
_BUCKETS = text(
    f"SELECT {_refilled('request_tokens', ':rq')}, {_refilled('record_tokens', ':rc')}"
    " FROM ingest_quotas q WHERE q.workspace_id = :ws"
)
_CHARGE_RECORDS = text(
    "UPDATE ingest_quotas q SET"
    f" request_tokens = {_refilled('request_tokens', ':rq')},"
    f" record_tokens = {_refilled('record_tokens', ':rc')} - :n,"
    " refilled_at = now()"
    " WHERE q.workspace_id = :ws"
)
_ENSURE_QUOTA_ROW = text(
    "INSERT INTO ingest_quotas"
    " (workspace_id, request_tokens, record_tokens, refilled_at, failed_stored)"
    " VALUES (:ws, :rq, :rc, now(), 0) ON CONFLICT (workspace_id) DO NOTHING"
)
# The day's count, reset on a new UTC day; the row locked, so concurrent imports add up.
_RESERVE_FAILED = text(
    "WITH cur AS ("
    " SELECT CASE WHEN failed_day = (now() AT TIME ZONE 'UTC')::date"
    " THEN failed_stored ELSE 0 END AS used"
    " FROM ingest_quotas WHERE workspace_id = :ws FOR UPDATE),"
    " granted AS (SELECT LEAST(:want, GREATEST(0, :cap - used)) AS n, used FROM cur)"
    " UPDATE ingest_quotas q"
    " SET failed_day = (now() AT TIME ZONE 'UTC')::date, failed_stored = g.used + g.n"
    " FROM granted g WHERE q.workspace_id = :ws RETURNING g.n"
)


def take_ingest_request(
    conn: Any, workspace_id: uuid.UUID, *, requests: float, records: float
) -> tuple[float, float] | None:
    """Take one request from the workspace's buckets if it may go now (a request token left
    and records not overdrawn): None. Otherwise nothing is taken and the answer is the
    buckets as they are now (requests, records), to tell how long to wait."""
    params = {"ws": workspace_id, "rq": requests, "rc": records}
    with conn.begin():
        if conn.execute(_TAKE_REQUEST, params).first() is not None:
            return None
        row = conn.execute(_BUCKETS, params).first()
    return (float(row[0]), float(row[1])) if row is not None else (0.0, 0.0)


def charge_ingest_records(
    conn: Any, workspace_id: uuid.UUID, n: int, *, requests: float, records: float
) -> None:
    """Take ``n`` records from the workspace's record bucket (it may go below zero)."""
    with conn.begin():
        conn.execute(_CHARGE_RECORDS, {"ws": workspace_id, "n": n, "rq": requests, "rc": records})


def reserve_failed_records(
    conn: Any, workspace_id: uuid.UUID, want: int, *, cap: int, requests: float, records: float
) -> int:
    """Room for up to ``want`` failed records within the workspace's ``cap`` for today (UTC):
    how many it may store; they are counted as stored from now on."""
    with conn.begin():
        conn.execute(_ENSURE_QUOTA_ROW, {"ws": workspace_id, "rq": requests, "rc": records})
        granted = conn.execute(
            _RESERVE_FAILED, {"ws": workspace_id, "want": want, "cap": cap}
        ).scalar()
    return int(granted or 0)
