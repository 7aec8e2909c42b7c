"""Parquet archives of metric facts and breakdown facts: written in batches, then read back
and totalled, so a partition is never dropped on the word of a file nobody has read. Each
family of facts has its ``ArchiveFormat``: the file's columns and the sums checked."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metricx.facts import measures as registry
from metricx.facts.tables import BREAKDOWN_MEASURES

_MONEY = pa.decimal128(18, 6)
_COUNT = pa.decimal128(18, 4)
TIMESTAMP = pa.timestamp("us", tz="UTC")


def arrow_type(m: registry.Measure) -> pa.DataType:
    if m.whole:
        return pa.int64()
    return _MONEY if m.unit is registry.Unit.MONEY else _COUNT


SCHEMA = pa.schema(
    [
        ("natural_key", pa.string()),
        ("event_at", TIMESTAMP),
        ("workspace_id", pa.string()),
        ("entity_id", pa.string()),
        ("provider", pa.string()),
        ("level", pa.string()),
        ("granularity", pa.string()),
        *((m.name, arrow_type(m)) for m in registry.all_measures()),
        ("currency", pa.string()),
        ("flags", pa.int16()),
        ("import_id", pa.string()),
        ("fetch_id", pa.string()),
        ("created_at", TIMESTAMP),
        ("updated_at", TIMESTAMP),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
CHECKED = registry.names(registry.rolled())

_BREAKDOWN_TYPES = {
    "spend": _MONEY,
    "purchase_value": _MONEY,
    "impressions": pa.int64(),
    "clicks": pa.int64(),
    "link_clicks": pa.int64(),
}
BREAKDOWN_SCHEMA = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("breakdown", pa.string()),
        ("entity_id", pa.string()),
        ("day", pa.date32()),
        ("key1", pa.string()),
        ("key2", pa.string()),
        ("currency", pa.string()),
        *((m, _BREAKDOWN_TYPES.get(m, _COUNT)) for m in BREAKDOWN_MEASURES),
        ("reach", pa.int64()),
        ("fetch_id", pa.string()),
        ("updated_at", TIMESTAMP),
    ]
)


@dataclass(frozen=True)
class ArchiveFormat:
    """One family of facts in Parquet: its columns (in the order rows are given) and the
    columns whose sums must match the database's before rows may go."""

    schema: pa.Schema
    uuid_columns: frozenset[str]
    checked: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.names)


METRIC_FACTS = ArchiveFormat(
    SCHEMA,
    frozenset({"natural_key", "workspace_id", "entity_id", "import_id", "fetch_id"}),
    CHECKED,
)
# Reach is not additive, but its sum still proves the column came back whole.
BREAKDOWN_FACTS = ArchiveFormat(
    BREAKDOWN_SCHEMA,
    frozenset({"workspace_id", "entity_id", "fetch_id"}),
    (*BREAKDOWN_MEASURES, "reach"),
)


@dataclass(frozen=True)
class Totals:
    """What must match between PostgreSQL and the file before rows may go."""

    rows: int
    sums: tuple[Decimal, ...]  # of each checked column (``ArchiveFormat.checked``), nulls as 0
    checked: tuple[str, ...] = CHECKED

    def of(self, measure: str) -> Decimal:
        return self.sums[self.checked.index(measure)]


class ArchiveMismatch(Exception):
    """The file read back does not hold exactly the rows it was written from."""


def _column(fmt: ArchiveFormat, name: str, values: list[Any]) -> pa.Array:
    if name in fmt.uuid_columns:
        values = [str(v) if isinstance(v, uuid.UUID) else v for v in values]
    return pa.array(values, type=fmt.schema.field(name).type)


def write_parquet(
    path: Path, batches: Iterable[Sequence[Sequence[Any]]], fmt: ArchiveFormat = METRIC_FACTS
) -> int:
    """Write row batches (tuples in ``fmt.columns`` order) to ``path`` atomically: a
    temporary file, fsynced, then renamed. Returns the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    written = 0
    columns = fmt.columns
    with pq.ParquetWriter(tmp, fmt.schema, compression="zstd") as writer:
        for batch in batches:
            if not batch:
                continue
            values = list(zip(*batch, strict=True))
            arrays = [
                _column(fmt, name, list(col)) for name, col in zip(columns, values, strict=True)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=fmt.schema))
            written += len(batch)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return written


def _sum(column: pa.Array, zero: Any) -> Any:
    total = pc.sum(column).as_py()
    return zero if total is None else total


def read_totals(path: Path, fmt: ArchiveFormat = METRIC_FACTS) -> Totals:
    """Read the file back, batch by batch, and total what retention checks."""
    rows = 0
    sums = [Decimal(0)] * len(fmt.checked)
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(columns=list(fmt.checked), batch_size=65_536):
        rows += batch.num_rows
        for i in range(len(fmt.checked)):
            sums[i] += Decimal(_sum(batch.column(i), 0))
    return Totals(rows, tuple(sums), fmt.checked)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of an archive (for restores and tests; an archive is one month of one
    granularity of metric facts, or one month of breakdown facts)."""
    return pq.read_table(path).to_pylist()
