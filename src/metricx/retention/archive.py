"""Parquet archives of metric facts: written in batches, then read back and totalled, so a
partition is never dropped on the word of a file nobody has read."""

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
_UUID_COLUMNS = frozenset({"natural_key", "workspace_id", "entity_id", "import_id", "fetch_id"})


@dataclass(frozen=True)
class Totals:
    """What must match between PostgreSQL and the file before rows may go."""

    rows: int
    sums: tuple[Decimal, ...]  # of each additive measure (``CHECKED``), nulls as 0

    def of(self, measure: str) -> Decimal:
        return self.sums[CHECKED.index(measure)]


CHECKED = registry.names(registry.rolled())


class ArchiveMismatch(Exception):
    """The file read back does not hold exactly the rows it was written from."""


def _column(name: str, values: list[Any]) -> pa.Array:
    if name in _UUID_COLUMNS:
        values = [str(v) if isinstance(v, uuid.UUID) else v for v in values]
    return pa.array(values, type=SCHEMA.field(name).type)


def write_parquet(path: Path, batches: Iterable[Sequence[Sequence[Any]]]) -> int:
    """Write row batches (tuples in ``COLUMNS`` order) to ``path`` atomically: a temporary
    file, fsynced, then renamed. Returns the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    written = 0
    with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
        for batch in batches:
            if not batch:
                continue
            columns = list(zip(*batch, strict=True))
            arrays = [_column(name, list(col)) for name, col in zip(COLUMNS, columns, strict=True)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=SCHEMA))
            written += len(batch)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return written


def _sum(column: pa.Array, zero: Any) -> Any:
    total = pc.sum(column).as_py()
    return zero if total is None else total


def read_totals(path: Path) -> Totals:
    """Read the file back, batch by batch, and total what retention checks."""
    rows = 0
    sums = [Decimal(0)] * len(CHECKED)
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(columns=list(CHECKED), batch_size=65_536):
        rows += batch.num_rows
        for i in range(len(CHECKED)):
            sums[i] += Decimal(_sum(batch.column(i), 0))
    return Totals(rows, tuple(sums))


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of an archive (for restores and tests; an archive is one month of one
    granularity)."""
    return pq.read_table(path).to_pylist()
