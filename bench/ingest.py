"""Ingest benchmark: N hourly facts for 2,000 ads through the HTTP API, a revision pass, and a
raw COPY of the same rows into the same (truncated) table as the physical limit.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--database-url postgresql://...]
                                     [--format ndjson|json] [--keep]

Starts ``metricx serve`` on a fresh, migrated database of the PostgreSQL at --database-url
(default: the machine's 127.0.0.1:5432), makes a workspace and an API key with the CLI, then
prints rows/s of each pass, the ratios to COPY and the server's peak RSS. Payloads are written
to temporary files before the clock starts, so the client's own work is not measured.
Targets: first load >= 50% of COPY, revisions >= 35%, server RSS < 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from psycopg import sql

from metricx.ingest.keys import natural_key_for

ROOT = Path(__file__).resolve().parent.parent
METRICX = str(ROOT / ".venv" / "bin" / "metricx")
COPY_COLUMNS = (
    "natural_key",
    "event_at",
    "workspace_id",
    "entity_id",
    "provider",
    "level",
    "granularity",
    "spend",
    "impressions",
    "clicks",
    "currency",
    "flags",
)


def cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [METRICX, *args, "--json"], env=env, check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def measures(ad: int, hour: int, revision: int) -> tuple[str, int, int]:
    impressions = 500 + (ad * 7919 + hour * 104729) % 1500 + revision * 13
    clicks = impressions // 50 + (ad + hour) % 7
    spend = f"{impressions * 0.0123 + revision * 0.5:.2f}"
    return spend, impressions, clicks


def grid(rows: int, ads: int) -> tuple[list[datetime], int]:
    hours = -(-rows // ads)
    last = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    return [last - timedelta(hours=hours - 1 - h) for h in range(hours)], hours


def records(rows: int, ads: int, revision: int) -> Iterator[dict[str, Any]]:
    stamps, _ = grid(rows, ads)
    n = 0
    for h, stamp in enumerate(stamps):
        at = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        for ad in range(ads):
            if n == rows:
                return
            spend, impressions, clicks = measures(ad, h, revision)
            yield {
                "external_entity_id": f"ad-{ad:05d}",
                "provider": "meta",
                "level": "ad",
                "granularity": "hour",
                "event_at": at,
                "spend": spend,
                "impressions": impressions,
                "clicks": clicks,
                "currency": "USD",
            }
            n += 1


def write_payloads(
    folder: Path, name: str, rows: int, ads: int, revision: int, fmt: str, per_request: int
) -> list[Path]:
    files: list[Path] = []
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        path = folder / f"{name}-{len(files):04d}.{fmt}"
        if fmt == "ndjson":
            path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in batch))
        else:
            path.write_text(json.dumps({"records": batch}, separators=(",", ":")))
        files.append(path)
        batch.clear()

    for record in records(rows, ads, revision):
        batch.append(record)
        if len(batch) == per_request:
            flush()
    if batch:
        flush()
    return files


def send(base: str, key: str, workspace: str, files: list[Path], fmt: str) -> dict[str, int]:
    totals = {"inserted": 0, "updated": 0, "unchanged": 0, "failed": 0}
    media = "application/x-ndjson" if fmt == "ndjson" else "application/json"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": media}
    url = f"{base}/api/v1/workspaces/{workspace}/metrics/ingest"

    def stream(path: Path) -> Iterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    with httpx.Client(timeout=None) as client:
        for path in files:
            resp = client.post(
                url, content=stream(path) if fmt == "ndjson" else path.read_bytes(), headers=headers
            )
            if resp.status_code != 200:
                raise SystemExit(f"ingest answered {resp.status_code}: {resp.text[:500]}")
            answer = resp.json()
            for k in totals:
                totals[k] += answer[k]
    return totals


class PeakRss(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.1)


def copy_baseline(url: str, workspace: str, rows: int, ads: int, folder: Path) -> float:
    """TRUNCATE metric_facts, then COPY the first pass's rows into it; rows/s."""
    with psycopg.connect(url) as conn:
        entities = dict(
            conn.execute(
                "SELECT external_id, id FROM entities WHERE workspace_id = %s", (workspace,)
            )
        )
        conn.execute("TRUNCATE metric_facts")
        conn.commit()
        path = folder / "copy.tsv"
        ws = uuid.UUID(workspace)
        with path.open("w") as f:
            for r in records(rows, ads, 0):
                at = datetime.fromisoformat(r["event_at"])
                key = natural_key_for(ws, "meta", "ad", r["external_entity_id"], "hour", at)
                f.write(
                    f"{key}\t{at.isoformat()}\t{ws}\t{entities[r['external_entity_id']]}\t"
                    f"meta\tad\thour\t{r['spend']}\t{r['impressions']}\t{r['clicks']}\t"
                    f"USD\t0\n"
                )
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            path.open("rb") as f,
            cur.copy(f"COPY metric_facts ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy,
        ):
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ads", type=int, default=2_000)
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server (maintenance database) to create the bench db on",
    )
    parser.add_argument("--format", choices=("ndjson", "json"), default="ndjson")
    parser.add_argument(
        "--per-request",
        type=int,
        default=0,
        help="records per request (default: 250,000 NDJSON, 10,000 JSON)",
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    per_request = args.per_request or (250_000 if args.format == "ndjson" else 10_000)

    dbname = f"metricx_bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = psycopg.conninfo.make_conninfo(args.database_url, dbname=dbname)
    url = (
        f"postgresql://{psycopg.conninfo.conninfo_to_dict(url).get('user', 'postgres')}@"
        f"{psycopg.conninfo.conninfo_to_dict(url).get('host', '127.0.0.1')}:"
        f"{psycopg.conninfo.conninfo_to_dict(url).get('port', 5432)}/{dbname}"
    )
    env = {
        **os.environ,
        "METRICX_DATABASE_URL": url,
        "METRICX_LOG_LEVEL": "WARNING",
        "METRICX_DATA_DIR": tempfile.mkdtemp(prefix="metricx-bench-"),
    }
    server: subprocess.Popen[bytes] | None = None
    try:
        cli(env, "db", "upgrade")
        email = f"bench-{secrets.token_hex(3)}@example.com"
        cli(env, "users", "create", "--email", email, "--password", secrets.token_hex(12))
        workspace = cli(env, "workspaces", "create", "--name", "bench", "--owner", email)["id"]
        key = cli(env, "api-keys", "create", "--workspace", workspace)["key"]
        server = subprocess.Popen([METRICX, "serve", "--port", str(args.port)], env=env)
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        sampler = PeakRss(server.pid)
        sampler.start()
        with tempfile.TemporaryDirectory(prefix="metricx-bench-") as tmp:
            folder = Path(tmp)
            print(
                f"{args.rows:,} hourly facts for {args.ads:,} ads, {args.format}, "
                f"{per_request:,} records per request; database {dbname}",
                flush=True,
            )
            first_files = write_payloads(
                folder, "first", args.rows, args.ads, 0, args.format, per_request
            )
            started = time.perf_counter()
            first = send(base, key, workspace, first_files, args.format)
            first_rate = args.rows / (time.perf_counter() - started)
            for f in first_files:
                f.unlink()
            print(f"first load   {first_rate:>9,.0f} rows/s  {first}", flush=True)
            rev_files = write_payloads(
                folder, "rev", args.rows, args.ads, 1, args.format, per_request
            )
            started = time.perf_counter()
            revised = send(base, key, workspace, rev_files, args.format)
            rev_rate = args.rows / (time.perf_counter() - started)
            for f in rev_files:
                f.unlink()
            print(f"revisions    {rev_rate:>9,.0f} rows/s  {revised}", flush=True)
            copy_rate = copy_baseline(url, workspace, args.rows, args.ads, folder)
        sampler.stop.set()
        print(f"raw COPY     {copy_rate:>9,.0f} rows/s (same table, truncated)")
        print(f"first load / COPY = {first_rate / copy_rate:.0%}  (target >= 50%)")
        print(f"revisions  / COPY = {rev_rate / copy_rate:.0%}  (target >= 35%)")
        print(f"server peak RSS   = {sampler.peak / 2**20:.0f} MB (target < 400 MB)")
        ok = first["inserted"] == args.rows and revised["updated"] == args.rows
        print("counts check: " + ("ok" if ok else f"MISMATCH first={first} revised={revised}"))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not args.keep:
            with psycopg.connect(args.database_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )


if __name__ == "__main__":
    sys.exit(main())
