"""Query benchmark: dashboard questions over N hourly facts, answered by the rollup path, by a
plain GROUP BY over metric_facts, and by DuckDB over the same rows exported to Parquet.

    .venv/bin/python bench/query.py [--days 208] [--ads 2000] [--runs 30]
                                    [--database-url postgresql://...] [--keep] [--reuse DB]

Loads 2,000 ads x 24 h x DAYS (208 days ~ 10M facts; --days is the scale) over 3 accounts
through the ingest service (the one write path, which also maintains the rollups) into a fresh
database, then times each question RUNS times warm and prints p50/p95 per design, and the
ingest rate with rollups against the same load without them (rollup cost on the write path).
Each question is also asked through the HTTP API of a `metricx serve` process on loopback, as
the dashboard asks it (warm, one keep-alive connection, an API key), next to the in-process
figure; that server's answer cache is off, so both figures compute the answer.
Targets: every dashboard question p95 < 50 ms in process and through HTTP, and faster than
DuckDB; rollups cost the ingest path < 25% of its throughput.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import select, text

from metricx.auth.service import create_api_key
from metricx.config import Settings
from metricx.db import make_engine, make_sessionmaker, unit_of_work
from metricx.facts import writer as fact_writer
from metricx.facts.types import FactInput
from metricx.ingest.service import upsert_facts
from metricx.kit.crypto import Cipher
from metricx.metrics.schemas import Bucket, GroupBy, GroupLevel, MetricQuery, SeriesOf
from metricx.metrics.service import UnifiedMetricService
from metricx.migrate import upgrade
from metricx.models import Entity, Level, Provider, User, Workspace
from metricx.runtime import tune_garbage_collector
from metricx.sandbox.server import free_port

END = date(2026, 11, 1)


def make_tree(session: Any, ws: Workspace, ads: int) -> list[uuid.UUID]:
    """3 accounts, 80 campaigns, 400 ad sets, ``ads`` ads, created in bulk."""

    def add(level: Level, ext: str, parent: uuid.UUID | None) -> uuid.UUID:
        e = Entity(
            id=uuid.uuid4(),
            workspace_id=ws.id,
            provider=Provider.META,
            level=level,
            external_id=ext,
            parent_id=parent,
            name=f"{level.value} {ext}",
            effective_status="ACTIVE",
        )
        session.add(e)
        return e.id

    accounts = [add(Level.ACCOUNT, f"act_{i}", None) for i in range(3)]
    campaigns = [add(Level.CAMPAIGN, f"c{i}", accounts[i % 3]) for i in range(80)]
    adsets = [add(Level.ADSET, f"s{i}", campaigns[i % 80]) for i in range(400)]
    ad_ids = [add(Level.AD, f"a{i}", adsets[i % 400]) for i in range(ads)]
    session.flush()
    return ad_ids


def facts(ad_ids: list[uuid.UUID], days: int, day_offset: int) -> Iterator[FactInput]:
    """Hourly facts, and each day's daily fact per ad (their sum), as the Meta sync stores."""
    start = datetime.combine(END - timedelta(days=days + day_offset), datetime.min.time(), UTC)
    day_sums = [[Decimal(0), 0, 0] for _ in ad_ids]
    for h in range(days * 24):
        at = start + timedelta(hours=h)
        for i, ad in enumerate(ad_ids):
            n = (i * 7919 + h * 104729) % 1000
            spend, imps, clicks = Decimal(n) / 100, n * 3 + 10, n % 17
            acc = day_sums[i]
            acc[0] += spend
            acc[1] += imps
            acc[2] += clicks
            yield FactInput(
                granularity="hour",
                entity_id=ad,
                event_at=at,
                currency="USD",
                spend=spend,
                impressions=imps,
                clicks=clicks,
            )
        if h % 24 == 23:
            day = at.replace(hour=0)
            for i, ad in enumerate(ad_ids):
                sp, im, cl = day_sums[i]
                yield FactInput(
                    granularity="day",
                    entity_id=ad,
                    event_at=day,
                    currency="USD",
                    spend=sp,
                    impressions=int(im),
                    clicks=int(cl),
                    conversions=0,
                )
                day_sums[i] = [Decimal(0), 0, 0]


def load(
    factory: Any,
    settings: Settings,
    ws_id: uuid.UUID,
    ad_ids: list[uuid.UUID],
    days: int,
    day_offset: int = 0,
    per_txn_days: int = 2,
) -> float:
    """Rows/s of loading ``days`` days through upsert_facts, a transaction per few days."""
    rows, started = 0, time.perf_counter()
    for first in range(0, days, per_txn_days):
        span = min(per_txn_days, days - first)
        with unit_of_work(factory) as session:
            result = upsert_facts(
                session,
                settings=settings,
                workspace_id=ws_id,
                records=facts(ad_ids, span, day_offset + days - first - span),
                source="bench",
            )
            rows += result.inserted + result.updated
    return rows / (time.perf_counter() - started)


def probe_load(
    url: str,
    factory: Any,
    settings: Settings,
    ws_id: uuid.UUID,
    ad_ids: list[uuid.UUID],
    days: int,
    rollups_on: bool,
) -> float:
    """Rows/s of loading 2 days beyond the bench's range into empty tables, with or without
    the rollup step; the tables are emptied again afterwards."""
    original = fact_writer.apply_rollup_deltas
    if not rollups_on:
        fact_writer.apply_rollup_deltas = lambda *a, **k: None  # type: ignore[assignment]
    try:
        rate = load(factory, settings, ws_id, ad_ids, 2, day_offset=days)
    finally:
        fact_writer.apply_rollup_deltas = original
    with unit_of_work(factory) as s:
        s.execute(text("DELETE FROM metric_facts WHERE workspace_id = :ws"), {"ws": ws_id})
        s.execute(text("DELETE FROM metric_rollups WHERE workspace_id = :ws"), {"ws": ws_id})
    with psycopg.connect(url, autocommit=True) as c:  # the next probe starts from clean pages
        c.execute("VACUUM metric_facts, metric_rollups")
    return rate


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    [figures] = timed_together([fn], runs)
    return figures


def timed_together(fns: list[Callable[[], Any]], runs: int) -> list[tuple[float, float]]:
    """p50/p95 (ms) of each of ``fns``, run in turn within each round, so a machine that
    slows down or speeds up mid-run weighs on every design alike."""
    for fn in fns:
        fn()  # warm
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, out in zip(fns, samples, strict=True):
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1000)
    figures = []
    for out in samples:
        out.sort()
        figures.append((statistics.median(out), out[max(0, int(len(out) * 0.95) - 1)]))
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--days", type=int, default=208)
    p.add_argument("--ads", type=int, default=2000)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--keep", action="store_true")
    p.add_argument(
        "--reuse",
        metavar="DBNAME",
        help="time the questions on a database a previous --keep run loaded (skips the load)",
    )
    args = p.parse_args()
    tune_garbage_collector()  # as ``metricx serve`` runs: the answers are built in its process

    dbname = args.reuse or f"metricx_qbench_{secrets.token_hex(3)}"
    if not args.reuse:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    info = psycopg.conninfo.conninfo_to_dict(args.database_url)
    url = (
        f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:"
        f"{info.get('port', 5432)}/{dbname}"
    )
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    settings = Settings(database_url=url)
    try:
        if args.reuse:
            with factory() as s:
                ws_id = s.scalars(select(Workspace.id)).one()
            time_questions(args, url, factory, ws_id)
            return
        upgrade(engine)
        with unit_of_work(factory) as s:
            user = User(email=f"b{secrets.token_hex(3)}@x.io", password_hash="x")
            s.add(user)
            ws = Workspace(name="bench", timezone="UTC")
            s.add(ws)
            s.flush()
            ws_id = ws.id
            ad_ids = make_tree(s, ws, args.ads)

        # Rollup cost on the write path: the same 2 days loaded with and without rollups,
        # alternately, three times each (the first load of a fresh table is slower, so one of
        # each in a fixed order would charge that to whichever ran first); medians compared.
        rates: dict[bool, list[float]] = {True: [], False: []}
        for rollups_on in (True, False) * 3:
            rates[rollups_on].append(
                probe_load(url, factory, settings, ws_id, ad_ids, args.days, rollups_on)
            )
        with_rollups, without = (statistics.median(rates[k]) for k in (True, False))
        print(
            f"ingest with rollups {with_rollups:,.0f} rows/s, without {without:,.0f} rows/s"
            f" (medians of 3, alternating): rollups cost"
            f" {100 * (1 - with_rollups / without):.0f}% (target < 25%)"
        )

        n = args.ads * 24 * args.days
        print(
            f"loading {n:,} hourly facts ({args.ads} ads x 24 h x {args.days} days)...", flush=True
        )
        rate = load(factory, settings, ws_id, ad_ids, args.days, per_txn_days=4)
        print(f"loaded at {rate:,.0f} rows/s")
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("VACUUM ANALYZE metric_facts")
            c.execute("VACUUM ANALYZE metric_rollups")
        time_questions(args, url, factory, ws_id)
    finally:
        engine.dispose()
        if not args.keep and not args.reuse:
            with psycopg.connect(args.database_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )


def time_questions(args: argparse.Namespace, url: str, factory: Any, ws_id: uuid.UUID) -> None:
    questions = {
        "7-day hourly series (workspace)": MetricQuery(
            start=END - timedelta(days=7),
            end=END - timedelta(days=1),
            granularity=Bucket.HOUR,
            level=GroupLevel.WORKSPACE,
        ),
        # The dashboard's table and chart: every campaign's totals and one daily line over
        # them (series=total), as the page asks.
        "30-day daily totals per campaign": MetricQuery(
            start=END - timedelta(days=30),
            end=END - timedelta(days=1),
            granularity=Bucket.DAY,
            level=GroupLevel.CAMPAIGN,
            group_by=GroupBy.ENTITY,
            series=SeriesOf.TOTAL,
        ),
        "90-day weekly per ad set, top 20": MetricQuery(
            start=END - timedelta(days=90),
            end=END - timedelta(days=1),
            granularity=Bucket.WEEK,
            level=GroupLevel.ADSET,
            group_by=GroupBy.ENTITY,
            limit=20,
            series=SeriesOf.TOTAL,
        ),
        # Not a dashboard question (for reference): every campaign's own daily series.
        "30-day per campaign, each one's series": MetricQuery(
            start=END - timedelta(days=30),
            end=END - timedelta(days=1),
            granularity=Bucket.DAY,
            level=GroupLevel.CAMPAIGN,
            group_by=GroupBy.ENTITY,
        ),
    }
    duck = duckdb_baseline(url, ws_id)
    with unit_of_work(factory) as s:
        key = create_api_key(s, workspace_id=ws_id, name="bench").key
    server = ApiServer(url)
    try:
        _time_questions(args, factory, ws_id, questions, duck, server, key)
    finally:
        server.stop()


def http_params(q: MetricQuery) -> dict[str, str]:
    """The question as the dashboard sends it to /metrics/query."""
    params = {
        "start": str(q.start),
        "end": str(q.end),
        "granularity": q.granularity.value,
        "level": q.level.value,
        "group_by": q.group_by.value,
    }
    if q.limit is not None:
        params["limit"] = str(q.limit)
    if q.series is not SeriesOf.GROUP:
        params["series"] = q.series.value
    return params


class ApiServer:
    """`metricx serve` on loopback against the bench's database, its answer cache off."""

    def __init__(self, url: str) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "METRICX_DATABASE_URL": url,
            "METRICX_ENCRYPTION_KEYS": Cipher.generate_key(),
            "METRICX_SECRET_KEY": secrets.token_hex(16),
            "METRICX_LOG_LEVEL": "WARNING",
            "METRICX_ANSWER_CACHE_SECONDS": "0",
            "METRICX_DATA_DIR": tempfile.mkdtemp(prefix="metricx-qbench-serve-"),
        }
        binary = Path(sys.executable).parent / "metricx"
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--port", str(self.port)], env=env, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise SystemExit("metricx serve did not come up")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def _time_questions(
    args: argparse.Namespace,
    factory: Any,
    ws_id: uuid.UUID,
    questions: dict[str, MetricQuery],
    duck: Callable[[str], Any],
    server: ApiServer,
    key: str,
) -> None:
    http = httpx.Client(
        base_url=f"{server.base}/api/v1/workspaces/{ws_id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )

    def asked(path: str, params: dict[str, str]) -> Callable[[], Any]:
        def ask() -> Any:
            r = http.get(path, params=params)
            r.raise_for_status()
            return r.content

        return ask

    print(
        f"\n{'question':36} {'rollups p50/p95':>18} {'HTTP p50/p95':>18}"
        f" {'GROUP BY p50/p95':>20} {'DuckDB p50/p95':>18}"
    )
    with factory() as session:
        workspace = session.get(Workspace, ws_id)
        assert workspace is not None
        fast = UnifiedMetricService(session, use_cache=False)
        raw = UnifiedMetricService(session, use_rollups=False, use_cache=False)
        cached = UnifiedMetricService(session)
        for name, q in questions.items():
            a, h, d = timed_together(
                [
                    lambda q=q: fast.query(workspace, q),
                    asked("/metrics/query", http_params(q)),
                    lambda name=name: duck(name),
                ],
                args.runs,
            )
            b = timed(lambda q=q: raw.query(workspace, q), max(5, args.runs // 6))
            print(
                f"{name:36} {a[0]:8.1f} /{a[1]:7.1f} {h[0]:8.1f} /{h[1]:7.1f}"
                f" {b[0]:9.1f} /{b[1]:8.1f} {d[0]:8.1f} /{d[1]:7.1f}   ms"
            )
        c = timed(
            lambda: cached.query(workspace, questions["30-day daily totals per campaign"]),
            args.runs,
        )
        print(f"{'the same, repeated (answer cache)':36} {c[0]:8.1f} /{c[1]:7.1f}")
        latest, latest_http = timed_together(
            [
                lambda: fast.latest(workspace, hours=6),
                asked("/metrics/latest", {"hours": "6"}),
            ],
            args.runs,
        )
        print(
            f"{'latest 6 hours + freshness':36} {latest[0]:8.1f} /{latest[1]:7.1f}"
            f" {latest_http[0]:8.1f} /{latest_http[1]:7.1f}"
        )
    http.close()


def duckdb_baseline(url: str, ws_id: uuid.UUID) -> Callable[[str], Any]:
    """The same questions in DuckDB over the facts (with their hierarchy) as Parquet."""
    import duckdb

    folder = Path(tempfile.mkdtemp(prefix="metricx-qbench-"))
    with psycopg.connect(url) as c, c.cursor() as cur:
        cur.execute("SELECT id, parent_id, level FROM entities")
        ents = cur.fetchall()
    con = duckdb.connect()
    con.execute("CREATE TABLE ent(id VARCHAR, parent VARCHAR, level VARCHAR)")
    con.executemany(
        "INSERT INTO ent VALUES (?, ?, ?)",
        [(str(i), str(p) if p else None, lv) for i, p, lv in ents],
    )
    started = time.perf_counter()
    with psycopg.connect(url) as c, c.cursor() as cur:
        path = folder / "facts.csv"
        with (
            path.open("wb") as f,
            cur.copy(
                "COPY (SELECT entity_id, event_at, spend, impressions, clicks, granularity"
                " FROM metric_facts"
                " WHERE workspace_id = %s) TO STDOUT WITH (FORMAT csv)",
                (ws_id,),
            ) as cp,
        ):
            for block in cp:
                f.write(block)
    con.execute(
        f"COPY (SELECT column0::VARCHAR AS entity_id, column1::TIMESTAMPTZ AS event_at,"
        f" column2::DECIMAL(18,6) AS spend, column3::BIGINT AS impressions,"
        f" column4::BIGINT AS clicks, column5::VARCHAR AS granularity"
        f" FROM read_csv('{path}', header=false))"
        f" TO '{folder / 'facts.parquet'}' (FORMAT parquet)"
    )
    path.unlink()
    con.execute(f"CREATE VIEW facts AS SELECT * FROM '{folder / 'facts.parquet'}'")
    con.execute("SET TimeZone = 'UTC'")
    print(f"DuckDB: exported to Parquet in {time.perf_counter() - started:.0f} s")
    end = f"TIMESTAMPTZ '{END}'"
    sums = "sum(spend), sum(impressions), sum(clicks)"
    anc = (
        "FROM facts f JOIN ent ad ON ad.id = f.entity_id JOIN ent s ON s.id = ad.parent"
        " JOIN ent c ON c.id = s.parent WHERE f.granularity = 'day' AND"
    )
    span = f"event_at >= {end} - INTERVAL 30 DAY AND event_at < {end}"
    quarter = f"event_at >= {end} - INTERVAL 90 DAY AND event_at < {end}"
    sqls: dict[str, list[str]] = {
        "7-day hourly series (workspace)": [
            f"SELECT date_trunc('hour', event_at), {sums}"
            f" FROM facts WHERE granularity = 'hour' AND event_at >= {end} - INTERVAL 7 DAY"
            f" AND event_at < {end} GROUP BY 1"
        ],
        # The same answer as the dashboard's: each campaign's totals and one daily line.
        "30-day daily totals per campaign": [
            f"SELECT c.id, {sums} {anc} {span} GROUP BY 1",
            f"SELECT date_trunc('day', event_at), {sums} FROM facts"
            f" WHERE granularity = 'day' AND {span} GROUP BY 1",
        ],
        "90-day weekly per ad set, top 20": [
            f"SELECT s.id, {sums} {anc} {quarter} GROUP BY 1 ORDER BY 2 DESC LIMIT 20",
            f"SELECT date_trunc('week', event_at), {sums} FROM facts"
            f" WHERE granularity = 'day' AND {quarter} GROUP BY 1",
        ],
        "30-day per campaign, each one's series": [
            f"SELECT c.id, date_trunc('day', event_at), {sums} {anc} {span} GROUP BY 1, 2"
        ],
    }

    def ask(name: str) -> list[Any]:
        return [con.execute(q).fetchall() for q in sqls[name]]

    return ask


if __name__ == "__main__":
    main()
