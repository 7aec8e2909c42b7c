"""Day files: `metricx export` and the periodic job write one file per day, and what a reader
gets back from them (pyarrow, csv, DuckDB) is exactly what bi.daily_facts holds."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
from sqlalchemy import text

from metricx.bi.tasks import refresh_export
from metricx.db import make_sessionmaker, unit_of_work
from metricx.ingest.service import upsert_facts
from metricx.runtime import build_runtime
from metricx.worker.tasks import TASKS
from tests.bi.conftest import DAYS, FIRST_DAY, Seeded, ad_facts, cli


def db_rows(seeded: Seeded, workspace: uuid.UUID, day: date) -> list[dict[str, Any]]:
    with seeded.session() as s:
        result = s.execute(
            text(
                "SELECT * FROM bi.daily_facts WHERE workspace_id = :ws AND day = :day"
                " ORDER BY level, entity_id, currency, provider"
            ),
            {"ws": workspace, "day": day},
        )
        return [dict(r) for r in result.mappings()]


def as_text(row: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in row.items()}


def parse_cell(cell: str, like: Any) -> Any:
    """A CSV cell read back as the type the database gave."""
    if cell == "":
        return None
    if isinstance(like, bool):
        return cell == "True"
    if isinstance(like, int):
        return int(cell)
    if isinstance(like, Decimal):
        return Decimal(cell)
    if isinstance(like, datetime):
        return datetime.fromisoformat(cell)
    if isinstance(like, date):
        return date.fromisoformat(cell)
    return cell


def test_parquet_export_reads_back_exactly(seeded: Seeded, tmp_path: Path) -> None:
    ws = seeded.workspaces[0]
    last = FIRST_DAY + timedelta(days=DAYS)  # one day without facts: an empty file
    out = cli(
        seeded,
        "export", "--format", "parquet", "--since", FIRST_DAY.isoformat(),
        "--until", last.isoformat(), "--workspace", str(ws), "--out", str(tmp_path / "x"), "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["rows"] == 2 * DAYS
    files = sorted((tmp_path / "x").iterdir())
    assert [f.name for f in files] == [
        f"{FIRST_DAY + timedelta(days=i)}.parquet" for i in range(DAYS + 1)
    ]
    for i, path in enumerate(files):
        day = FIRST_DAY + timedelta(days=i)
        back = pq.read_table(path).to_pylist()
        expected = [as_text(r) for r in db_rows(seeded, ws, day)]
        assert len(back) == (2 if i < DAYS else 0)
        assert back == expected, day
    # A BI reader: DuckDB over the folder, as the README shows.
    total = (
        duckdb.connect()
        .execute(f"SELECT sum(spend), count(*) FROM read_parquet('{tmp_path / 'x'}/*.parquet')")
        .fetchone()
    )
    with seeded.session() as s:
        spend = s.execute(
            text("SELECT sum(spend) FROM bi.daily_facts WHERE workspace_id = :ws"), {"ws": ws}
        ).scalar()
    assert total == (spend, 2 * DAYS)


def test_csv_export_of_every_workspace_reads_back_exactly(seeded: Seeded, tmp_path: Path) -> None:
    out = cli(
        seeded,
        "export", "--format", "csv", "--since", FIRST_DAY.isoformat(),
        "--until", FIRST_DAY.isoformat(), "--out", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "wrote 2 files (4 rows)" in out.stdout
    for ws in seeded.workspaces:
        with (tmp_path / str(ws) / f"{FIRST_DAY}.csv").open(newline="") as f:
            back = list(csv.DictReader(f))
        expected = db_rows(seeded, ws, FIRST_DAY)
        assert len(back) == len(expected) == 2
        for got, want in zip(back, expected, strict=True):
            assert list(got) == list(want)
            assert {k: parse_cell(got[k], v) for k, v in want.items()} == as_text(want)


def test_export_refuses_bad_input(seeded: Seeded, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")

    def span(since: str, until: str, out: Path = tmp_path) -> list[str]:
        return ["--since", since, "--until", until, "--out", str(out)]

    ok = span("2026-11-01", "2026-11-02", tmp_path / "o")
    cases = [
        (span("2026-13-01", "2026-11-02"), "--since must be a date"),
        (span("2026-11-01", "yesterday"), "--until must be a date"),
        (span("2026-11-03", "2026-11-02"), "--since is after --until"),
        (span("1990-01-01", "2026-11-02"), "at most"),
        ([*ok, "--format", "xlsx"], "--format must be parquet or csv"),
        (span("2026-11-01", "2026-11-02", a_file), "is not a folder"),
        (span("2026-11-01", "2026-11-02", a_file / "sub"), "cannot create --out"),
        ([*ok, "--workspace", "acme"], "--workspace must be a UUID"),
        ([*ok, "--workspace", str(uuid.uuid4())], "no workspace"),
    ]
    for args, message in cases:
        out = cli(seeded, "export", *args)
        assert out.returncode == 1, (args, out.stdout)
        assert message in out.stderr, (args, out.stderr)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_the_periodic_job_rewrites_revised_days_inside_the_lookback_only(
    seeded: Seeded, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    settings = seeded.settings.model_copy(
        update={"export_dir": folder, "export_format": "parquet", "sync_lookback_days_daily": 18}
    )
    runtime = build_runtime(settings, engine=seeded.engine)
    now = datetime.combine(FIRST_DAY + timedelta(days=19), datetime.min.time(), UTC)
    # The lookback reaches back to the second day: the first is older.
    old, recent = FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1)

    first = refresh_export(runtime, now=now)
    assert first["written"] == 2 * DAYS and first["rows"] == 4 * DAYS
    ws = seeded.workspaces[0]
    path = {d: folder / str(ws) / f"{d}.parquet" for d in (old, recent)}
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*.parquet")}

    again = refresh_export(runtime, now=now)
    assert (again["written"], again["kept"], again["unchanged"]) == (0, 2, 2 * DAYS - 2)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.parquet")} == stamps

    old_file = path[old].read_bytes()
    revise(seeded, ws, [old, recent])
    third = refresh_export(runtime, now=now)
    assert third["written"] == 1
    assert pq.read_table(path[recent]).to_pylist() == [
        as_text(r) for r in db_rows(seeded, ws, recent)
    ]
    assert path[old].read_bytes() == old_file  # older than the lookback: left as it was
    assert pq.read_table(path[old]).to_pylist() != [as_text(r) for r in db_rows(seeded, ws, old)]

    path[old].unlink()  # a missing day is written whatever its age
    fourth = refresh_export(runtime, now=now)
    assert fourth["written"] == 1
    assert pq.read_table(path[old]).to_pylist() == [as_text(r) for r in db_rows(seeded, ws, old)]


def revise(seeded: Seeded, ws: uuid.UUID, days: list[date]) -> None:
    with unit_of_work(make_sessionmaker(seeded.engine)) as s:
        conn_id = s.execute(
            text("SELECT id FROM connections WHERE workspace_id = :ws"), {"ws": ws}
        ).scalar_one()
        records = [f for d in days for f in ad_facts("one", d, 50, "USD")]
        upsert_facts(
            s, settings=seeded.settings, workspace_id=ws, records=records, connection_id=conn_id
        )


def test_the_periodic_job_is_scheduled_and_off_without_a_folder(seeded: Seeded) -> None:
    (spec,) = [t for t in TASKS if t.name == "export_day_files"]
    assert spec.cron and spec.queue == "maintenance"
    runtime = build_runtime(seeded.settings, engine=seeded.engine)
    assert seeded.settings.export_dir is None
    assert refresh_export(runtime) == {"enabled": False}
