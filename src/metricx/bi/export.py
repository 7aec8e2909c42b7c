"""Day files: the daily facts of ``bi.daily_facts`` (every level, with names, hierarchy,
currency and time zone), one Parquet or CSV file per workspace and local day.

``metricx export`` writes a range; the periodic job (``export_day_files``) keeps a folder
current: a missing day is written, a day inside the daily sync lookback is rewritten when its
rows changed (Meta revises recent days), an older file is left as it is."""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.facts import measures as registry
from metricx.retention.archive import TIMESTAMP, arrow_type

Format = Literal["parquet", "csv"]
FORMATS: tuple[Format, ...] = ("parquet", "csv")
MAX_DAYS = 3700  # about ten years per command; facts older than Meta's 37 months are rare
_TIMES = {"event_at", "updated_at"}


@dataclass
class ExportSummary:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # rewritten content was identical
    kept: list[str] = field(default_factory=list)  # outside the lookback: left as it was
    rows: int = 0


def view_columns(session: Session) -> list[str]:
    return list(session.execute(text("SELECT * FROM bi.daily_facts LIMIT 0")).keys())


def arrow_schema(columns: list[str]) -> pa.Schema:
    measures = registry.by_name()
    fields = []
    for name in columns:
        if name in measures:
            kind = arrow_type(measures[name])
        elif name == "day":
            kind = pa.date32()
        elif name in _TIMES:
            kind = TIMESTAMP
        else:
            kind = pa.string()  # text, and uuids as their text
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def day_rows(session: Session, workspace_id: uuid.UUID, day: date) -> list[dict[str, Any]]:
    """The daily facts of one workspace's local ``day``, in a stable order. A day fact starts
    at its account's local midnight, so its UTC start lies within a day either side."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    result = session.execute(
        text(
            "SELECT * FROM bi.daily_facts WHERE workspace_id = :ws"
            " AND event_at >= :start AND event_at < :end AND day = :day"
            " ORDER BY level, entity_id, currency, provider"
        ),
        {"ws": workspace_id, "start": start, "end": start + timedelta(days=3), "day": day},
    )
    return [
        {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in row.items()}
        for row in result.mappings()
    ]


def render(rows: list[dict[str, Any]], columns: list[str], fmt: Format) -> bytes:
    """The file's bytes; the same rows always give the same bytes (so a rewrite is skipped
    when nothing changed)."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(row[c]) for c in columns])
        return out.getvalue().encode()
    table = pa.Table.from_pylist(rows, schema=arrow_schema(columns))
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def days_between(since: date, until: date) -> Iterator[date]:
    day = since
    while day <= until:
        yield day
        day += timedelta(days=1)


def workspace_ids(session: Session) -> list[uuid.UUID]:
    return [r[0] for r in session.execute(text("SELECT id FROM workspaces ORDER BY id"))]


def workspace_exists(session: Session, workspace_id: uuid.UUID) -> bool:
    found = session.execute(text("SELECT 1 FROM workspaces WHERE id = :ws"), {"ws": workspace_id})
    return found.first() is not None


def days_with_facts(
    session: Session, workspace_id: uuid.UUID, since: date | None = None, until: date | None = None
) -> list[date]:
    """The local days holding daily facts (from the workspace's day rollups: one row per day)."""
    rows = session.execute(
        text(
            "SELECT DISTINCT day FROM metric_rollups WHERE workspace_id = :ws"
            " AND level = 'workspace' AND granularity = 'day' AND facts <> 0"
            " AND (CAST(:since AS date) IS NULL OR day >= :since)"
            " AND (CAST(:until AS date) IS NULL OR day <= :until) ORDER BY day"
        ),
        {"ws": workspace_id, "since": since, "until": until},
    )
    return [r[0] for r in rows]


def export_range(
    session: Session,
    *,
    out: Path,
    fmt: Format,
    since: date,
    until: date,
    workspace_id: uuid.UUID | None = None,
) -> ExportSummary:
    """One file per day of the range (empty days too, so a reader sees the day was
    exported): ``out/<day>.<fmt>`` for one workspace, ``out/<workspace id>/<day>.<fmt>`` for
    all of them."""
    columns = view_columns(session)
    summary = ExportSummary()
    targets = (
        [(workspace_id, out)]
        if workspace_id
        else [(ws, out / str(ws)) for ws in workspace_ids(session)]
    )
    for ws, folder in targets:
        assert ws is not None
        for day in days_between(since, until):
            rows = day_rows(session, ws, day)
            path = folder / f"{day.isoformat()}.{fmt}"
            write_atomically(path, render(rows, columns, fmt))
            summary.written.append(str(path))
            summary.rows += len(rows)
    return summary


def refresh_folder(
    session: Session, *, folder: Path, fmt: Format, lookback_days: int, today: date
) -> ExportSummary:
    """The periodic job's work: every workspace's days with facts under
    ``folder/<workspace id>/``: missing files written, files of the last ``lookback_days``
    (plus today) rewritten when their rows changed, older files kept."""
    columns = view_columns(session)
    summary = ExportSummary()
    recent = today - timedelta(days=lookback_days)
    for ws in workspace_ids(session):
        for day in days_with_facts(session, ws, until=today):
            path = folder / str(ws) / f"{day.isoformat()}.{fmt}"
            if path.exists() and day < recent:
                summary.kept.append(str(path))
                continue
            rows = day_rows(session, ws, day)
            content = render(rows, columns, fmt)
            if path.exists() and path.read_bytes() == content:
                summary.unchanged.append(str(path))
                continue
            write_atomically(path, content)
            summary.written.append(str(path))
            summary.rows += len(rows)
    return summary
