"""The one write path of metric facts: a chunk's rows are COPYed into a session staging table
and merged into ``metric_facts`` by one statement, which also records each change's delta for
the rollups (``metricx.facts.rollups``). The staging row, its columns and the merge are built
from the measure registry, so their column orders cannot drift apart.

Only the ingest service calls this (the sync writes through the ingest service).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import Connection as PgConnection
from sqlalchemy.orm import Session

from metricx.facts import measures as registry
from metricx.facts import rollups
from metricx.facts.types import FactInput

NULL = "\\N"  # COPY's null
MEASURES = registry.names()
STAGE_COLUMNS = (
    "natural_key",
    "event_at",
    "entity_id",
    "provider",
    "level",
    "granularity",
    *MEASURES,
    "currency",
    "flags",
)
_VALUE_COLUMNS = (*MEASURES, "currency", "flags")
_STAGE_TYPES = ", ".join(
    [
        "natural_key uuid, event_at timestamptz, entity_id uuid, provider text, level text,"
        " granularity text",
        *(f"{m.name} {'bigint' if m.whole else 'numeric'}" for m in registry.all_measures()),
        "currency text, flags smallint",
    ]
)
STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS metricx_fact_stage ({_STAGE_TYPES}) ON COMMIT DELETE ROWS"
)


def _line_maker() -> Callable[..., str]:
    """A function writing one staging line (``STAGE_COLUMNS``, tab-separated) from a fact,
    generated from the registry: one f-string, and for each run of nullable measures a
    constant when all of them are null (most facts report no actions), as fast as the
    hand-written line it replaces."""
    body: list[str] = []
    parts: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        if not run:
            return
        n = len(parts)
        body.extend(f"    {m} = f.{m}" for m in run)
        each = "\\t".join(f"{{N if {m} is None else {m}}}" for m in run)
        nulls = "\\t".join(["\\\\N"] * len(run))
        body.append(f"    if {' and '.join(f'{m} is None' for m in run)}:")
        body.append(f'        g{n} = "{nulls}"')
        body.append("    else:")
        body.append(f'        g{n} = f"{each}"')
        parts.append(f"{{g{n}}}")
        run.clear()

    for m in registry.all_measures():
        if m.nullable:
            run.append(m.name)
        else:
            close_run()
            parts.append(f"{{f.{m.name}}}")
    close_run()
    values = "\\t".join(parts)
    source = "\n".join(
        [
            "def stage_line(key, iso, eid, provider, level, f, currency, flags):",
            *body,
            f'    return f"{{key}}\\t{{iso}}\\t{{eid}}\\t{{provider}}\\t{{level}}\\t'
            f'{{f.granularity}}\\t{values}\\t{{currency}}\\t{{flags}}\\n"',
        ]
    )
    namespace: dict[str, Any] = {"__builtins__": {}, "N": NULL}
    exec(source, namespace)
    return namespace["stage_line"]


# One fact as a staging line: (natural key, UTC bucket start as ISO text, entity id as text,
# provider, level, fact, currency, flags) -> the tab-separated ``STAGE_COLUMNS`` row.
stage_line: Callable[[str, str, str, str, str, FactInput, str, int], str] = _line_maker()


# One statement writes the staged chunk: new keys are inserted, changed ones updated, and the
# IS DISTINCT FROM guard leaves identical re-sends untouched (no dead tuple, no WAL).
# A partitioned table cannot RETURN xmax, so inserted rows are told apart by their created_at:
# the statement stamps new rows with a marker unique to it, and an update never touches
# created_at.
# It also records each change's delta for the rollups (metricx.facts.rollups): the old
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
    " ON CONFLICT (natural_key, event_at, workspace_id) DO UPDATE SET "
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
