"""All SQL of ingestion: entities by reference, the COPY-and-merge of facts, imports and the
dead-letter store. Every query is scoped by workspace."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from psycopg import Connection as PgConnection
from psycopg.types.json import Jsonb
from sqlalchemy import ARRAY, Executable, Text, cast, func, literal, select, text
from sqlalchemy.orm import Session

from metricx.metrics import rollups
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


STAGE_COLUMNS = (
    "natural_key",
    "event_at",
    "entity_id",
    "provider",
    "level",
    "granularity",
    "spend",
    "impressions",
    "clicks",
    "reach",
    "conversions",
    "leads",
    "purchases",
    "purchase_value",
    "currency",
    "flags",
)
_VALUE_COLUMNS = (
    "spend",
    "impressions",
    "clicks",
    "reach",
    "conversions",
    "leads",
    "purchases",
    "purchase_value",
    "currency",
    "flags",
)

STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS metricx_fact_stage (natural_key uuid, event_at timestamptz,"
    " entity_id uuid, provider text, level text, granularity text, spend numeric,"
    " impressions bigint, clicks bigint, reach bigint, conversions numeric, leads numeric,"
    " purchases numeric, purchase_value numeric, currency text, flags smallint)"
    " ON COMMIT DELETE ROWS"
)
# One statement writes the staged chunk: new keys are inserted, changed ones updated, and the
# IS DISTINCT FROM guard leaves identical re-sends untouched (no dead tuple, no WAL).
# A partitioned table cannot RETURN xmax, so inserted rows are told apart by their created_at:
# the statement stamps new rows with a marker unique to it, and an update never touches
# created_at.
# It also records each change's delta for the rollups (metricx.metrics.rollups): the old
# values are read, locked, in the same statement, so they are exactly what the merge replaced.
MERGE_SQL = (
    "WITH "
    + rollups.OLD_CTE
    + ", merged AS (INSERT INTO metric_facts AS f ("
    + ", ".join(STAGE_COLUMNS)
    + ", workspace_id, import_id, fetch_id, created_at, updated_at)"
    " SELECT "
    + ", ".join(f"s.{c}" for c in STAGE_COLUMNS)
    + ", %(ws)s, %(imp)s, %(fetch)s, %(marker)s, %(marker)s"
    " FROM metricx_fact_stage s"
    " ON CONFLICT (natural_key, event_at) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _VALUE_COLUMNS)
    + ", import_id = EXCLUDED.import_id, fetch_id = EXCLUDED.fetch_id, updated_at = now()"
    " WHERE ("
    + ", ".join(f"f.{c}" for c in _VALUE_COLUMNS)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"EXCLUDED.{c}" for c in _VALUE_COLUMNS)
    + ")"
    " RETURNING "
    + rollups.FACT_RETURNING
    + ", f.created_at = %(marker)s AS inserted), "
    + rollups.DELTA_CTE
    + " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
)


class _Markers:
    """Strictly increasing timestamps, one per merge statement of this process."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def next(self) -> datetime:
        with self._lock:
            now = datetime.now(UTC)
            self._last = now if now > self._last else self._last + timedelta(microseconds=1)
            return self._last


_MARKERS = _Markers()


def driver_connection(session: Session) -> PgConnection[Any]:
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, PgConnection)
    return raw


def merge_facts(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    import_id: uuid.UUID,
    fetch_id: uuid.UUID | None,
    lines: Iterable[str],
) -> tuple[int, int]:
    """COPY the chunk's tab-separated rows (``STAGE_COLUMNS``) into the session's staging
    table, merge them into metric_facts; return (inserted, updated)."""
    conn = driver_connection(session)
    with conn.cursor() as cur:
        cur.execute(rollups.WRITER_LOCK_SQL, {"ws": str(workspace_id)})
        cur.execute(STAGE_DDL)
        cur.execute(rollups.DELTA_DDL)
        cur.execute("TRUNCATE metricx_fact_stage")
        with cur.copy(f"COPY metricx_fact_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as cp:
            buffer: list[str] = []
            for line in lines:
                buffer.append(line)
                if len(buffer) >= 2000:
                    cp.write("".join(buffer))
                    buffer.clear()
            if buffer:
                cp.write("".join(buffer))
        cur.execute(
            MERGE_SQL,
            {"ws": workspace_id, "imp": import_id, "fetch": fetch_id, "marker": _MARKERS.next()},
        )
        row = cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def apply_rollup_deltas(session: Session, workspace_id: uuid.UUID) -> None:
    """Fold the import's accumulated fact deltas into the rollups: once per import, so a
    rollup row touched by many chunks is written once."""
    with driver_connection(session).cursor() as cur:
        cur.execute(rollups.DELTA_DDL)
        rollups.apply_deltas(cur, workspace_id)


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
