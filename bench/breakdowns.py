"""Breakdown benchmark (issue 17): Ads Manager's Breakdown questions over N breakdown rows,
answered by metricx (rollups, or facts by ad), in process and through the HTTP API, against
DuckDB over the same rows exported to Parquet.

    .venv/bin/python bench/breakdowns.py [--days 104] [--ads 2000] [--runs 30]
                                         [--database-url postgresql://...] [--keep]
                                         [--reuse DBNAME]

Loads 2,000 ads over 3 accounts (80 campaigns, 400 ad sets) with the default breakdown sets
(age x gender 21 values, country 10, placement 12, impression device 5: 48 rows per ad-day)
for DAYS days (104 days ~ 10M rows) through the one write path (``write_breakdowns``, a week
of one account and set per call, which also rebuilds the rollups), and each ad's daily fact
(the unbroken totals the answer reconciles with). Prints the write rate, the bytes per million
breakdown rows (facts with their index, and the rollups), then p50/p95 per question.
Target: every question p95 < 50 ms, and faster than DuckDB on the same rows.
"""

from __future__ import annotations

import argparse
import atexit
import secrets
import shutil
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
from query import ApiServer, make_tree, timed_together  # bench/query.py
from sqlalchemy import select, text

from metricx.auth.service import create_api_key
from metricx.config import Settings
from metricx.db import make_engine, make_sessionmaker, unit_of_work
from metricx.facts.breakdowns import BreakdownRow, write_breakdowns
from metricx.facts.types import FactInput
from metricx.ingest.service import upsert_facts
from metricx.metrics.schemas import GroupBy, GroupLevel, MetricQuery
from metricx.metrics.service import UnifiedMetricService
from metricx.migrate import upgrade
from metricx.models import Connection, Entity, Level, Provider, User, Workspace
from metricx.runtime import tune_garbage_collector

END = date(2026, 11, 1)
AGES = ("13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
VALUES: dict[str, list[tuple[str, str]]] = {
    "age_gender": [(a, g) for a in AGES for g in ("female", "male", "unknown")],
    "country": [(c, "") for c in ("US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "AU", "BR")],
    "placement": [
        (p, pos)
        for p, positions in (
            ("facebook", ("feed", "story", "facebook_reels", "marketplace", "right_hand_column")),
            ("instagram", ("stream", "story", "reels", "explore")),
            ("audience_network", ("classic", "rewarded_video")),
            ("messenger", ("messenger_inbox",)),
        )
        for pos in positions
    ],
    "impression_device": [
        (d, "") for d in ("iphone", "android_smartphone", "ipad", "android_tablet", "desktop")
    ],
}


def rows_for(
    ads: list[str], days: list[date], values: list[tuple[str, str]]
) -> Iterator[BreakdownRow]:
    for day in days:
        for i, ad in enumerate(ads):
            for j, (k1, k2) in enumerate(values):
                n = (i * 7919 + day.toordinal() * 104729 + j * 31) % 1000
                yield BreakdownRow(
                    external_id=ad,
                    day=day,
                    key1=k1,
                    key2=k2,
                    spend=Decimal(n) / 100,
                    impressions=n * 3 + 10,
                    clicks=n % 17,
                    link_clicks=n % 11,
                    reach=n * 2 + 5,
                    conversions=Decimal(n % 5),
                    leads=Decimal(0),
                    purchases=Decimal(n % 3),
                    purchase_value=Decimal(n % 3) * 25,
                    results=None,
                )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--days", type=int, default=104)
    p.add_argument("--ads", type=int, default=2000)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    p.add_argument("--reuse", metavar="DBNAME", help="time the questions on a kept database")
    args = p.parse_args()
    tune_garbage_collector()

    dbname = args.reuse or f"metricx_bdbench_{secrets.token_hex(3)}"
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
    try:
        if args.reuse:
            with factory() as s:
                ws_id = s.scalars(select(Workspace.id)).one()
        else:
            upgrade(engine)
            accounts = setup(factory, args.ads)
            ws_id = accounts[0][0]
            load(factory, Settings(database_url=url), accounts, args.days)
            with psycopg.connect(url, autocommit=True) as c:
                c.execute("VACUUM ANALYZE")
                report_sizes(c)
        time_questions(args, url, factory, ws_id)
    finally:
        engine.dispose()
        if args.keep or args.reuse:
            print(f"database kept: {dbname}")
        else:
            with psycopg.connect(args.database_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )


def setup(factory: Any, ads: int) -> list[tuple[uuid.UUID, uuid.UUID, list[str], list[uuid.UUID]]]:
    """The workspace, its tree and one connection per account; per account: (workspace,
    connection, its ads' external ids, their entity ids)."""
    with unit_of_work(factory) as s:
        s.add(User(email=f"b{secrets.token_hex(3)}@x.io", password_hash="x"))
        ws = Workspace(name="bench", timezone="UTC")
        s.add(ws)
        s.flush()
        make_tree(s, ws, ads)
        out = []
        for acct in s.scalars(
            select(Entity).where(Entity.level == Level.ACCOUNT).order_by(Entity.external_id)
        ):
            conn = Connection(
                workspace_id=ws.id,
                provider=Provider.META,
                external_account_id=acct.external_id,
                name=acct.external_id,
                currency="USD",
                timezone="UTC",
            )
            s.add(conn)
            s.flush()
            s.execute(
                text(
                    "UPDATE entities a SET connection_id = :c FROM entities s, entities cp"
                    " WHERE a.level = 'ad' AND s.id = a.parent_id AND cp.id = s.parent_id"
                    " AND cp.parent_id = :acct"
                ),
                {"c": conn.id, "acct": acct.id},
            )
            s.execute(
                text(
                    "UPDATE entities e SET connection_id = :c WHERE e.id = :acct OR e.parent_id"
                    " = :acct OR e.parent_id IN (SELECT id FROM entities WHERE parent_id = :acct)"
                ),
                {"c": conn.id, "acct": acct.id},
            )
            found = s.execute(
                text(
                    "SELECT external_id, id FROM entities WHERE level = 'ad' AND connection_id"
                    " = :c ORDER BY external_id"
                ),
                {"c": conn.id},
            ).all()
            out.append((ws.id, conn.id, [r[0] for r in found], [r[1] for r in found]))
    return out


def load(factory: Any, settings: Settings, accounts: list[Any], days: int) -> None:
    first = END - timedelta(days=days)
    total, started = 0, time.perf_counter()
    for week in range(0, days, 7):
        span = [first + timedelta(days=week + d) for d in range(min(7, days - week))]
        for ws_id, conn_id, ads, _ in accounts:
            for name, values in VALUES.items():
                with unit_of_work(factory) as session:
                    done = write_breakdowns(
                        session,
                        workspace_id=ws_id,
                        connection_id=conn_id,
                        provider="meta",
                        breakdown=name,
                        currency="USD",
                        since=span[0],
                        until=span[-1],
                        campaigns=None,
                        rows=rows_for(ads, span, values),
                        fetch_id=None,
                    )
                    total += done.written
        print(f"  {total:,} breakdown rows", end="\r", flush=True)
    elapsed = time.perf_counter() - started
    print(f"loaded {total:,} breakdown rows at {total / elapsed:,.0f} rows/s (with rollups)")
    daily: list[FactInput] = []
    for _, _, _, ids in accounts:
        for d in range(days):
            at = datetime.combine(first + timedelta(days=d), datetime.min.time(), UTC)
            for i, ad in enumerate(ids):
                n = (i * 31 + d * 17) % 1000
                daily.append(
                    FactInput(
                        granularity="day",
                        entity_id=ad,
                        event_at=at,
                        currency="USD",
                        spend=Decimal(n) * 5,
                        impressions=n * 150 + 500,
                        clicks=n % 17 * 48,
                    )
                )
    with unit_of_work(factory) as session:
        upsert_facts(
            session, settings=settings, workspace_id=accounts[0][0], records=daily, source="bench"
        )
    print(f"and {len(daily):,} daily ad facts (the unbroken totals)")


def report_sizes(c: psycopg.Connection[Any]) -> None:
    rows = c.execute("SELECT count(*) FROM breakdown_facts").fetchone()
    facts_bytes = c.execute(
        "SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i"
        " WHERE i.inhparent = 'breakdown_facts'::regclass"
    ).fetchone()
    rolled = c.execute(
        "SELECT count(*), pg_total_relation_size('breakdown_rollups') FROM breakdown_rollups"
    ).fetchone()
    assert rows and facts_bytes and rolled
    per_million = 1_000_000 / max(1, rows[0]) / 2**20
    facts_mib, rollups_mib = float(facts_bytes[0]) * per_million, float(rolled[1]) * per_million
    print(
        f"storage per million breakdown rows: facts {facts_mib:,.0f}"
        f" MiB (with their key index), rollups {rollups_mib:,.0f} MiB"
        f" ({rolled[0]:,} rollup rows for {rows[0]:,} facts)"
    )


def questions(factory: Any) -> dict[str, MetricQuery]:
    with factory() as s:
        campaign = s.scalars(select(Entity.id).where(Entity.level == Level.CAMPAIGN)).first()
        adset = s.scalars(select(Entity.id).where(Entity.level == Level.ADSET)).first()
    month = {"start": END - timedelta(days=30), "end": END - timedelta(days=1)}
    return {
        "age x gender, workspace, 30 days": MetricQuery(**month, breakdown="age_gender"),
        "country per campaign, 30 days": MetricQuery(
            **month, breakdown="country", level=GroupLevel.CAMPAIGN, group_by=GroupBy.ENTITY
        ),
        "placement of one campaign, 30 days": MetricQuery(
            **month, breakdown="placement", entity_ids=[campaign]
        ),
        "device per ad set, top 20, 30 days": MetricQuery(
            **month,
            breakdown="impression_device",
            level=GroupLevel.ADSET,
            group_by=GroupBy.ENTITY,
            limit=20,
        ),
        # Not a calendar month: 20 September to 19 October (whole weeks and two odd days).
        "device per ad set, top 20, 20 Sep-19 Oct": MetricQuery(
            start=END - timedelta(days=42),
            end=END - timedelta(days=13),
            breakdown="impression_device",
            level=GroupLevel.ADSET,
            group_by=GroupBy.ENTITY,
            limit=20,
        ),
        "age x gender by ad, one ad set, 7 days": MetricQuery(
            start=END - timedelta(days=7),
            end=END - timedelta(days=1),
            breakdown="age_gender",
            level=GroupLevel.AD,
            group_by=GroupBy.ENTITY,
            entity_ids=[adset],
        ),
    }


def http_params(q: MetricQuery) -> dict[str, Any]:
    params: dict[str, Any] = {
        "start": str(q.start),
        "end": str(q.end),
        "level": q.level.value,
        "group_by": q.group_by.value,
        "breakdown": q.breakdown,
    }
    if q.limit is not None:
        params["limit"] = str(q.limit)
    if q.entity_ids:
        params["entity_id"] = [str(e) for e in q.entity_ids]
    return params


def time_questions(args: argparse.Namespace, url: str, factory: Any, ws_id: uuid.UUID) -> None:
    asked = questions(factory)
    duck = duckdb_baseline(url, asked)
    with unit_of_work(factory) as s:
        key = create_api_key(s, workspace_id=ws_id, name="bench").key
    server = ApiServer(url)
    http = httpx.Client(
        base_url=f"{server.base}/api/v1/workspaces/{ws_id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )

    def over_http(q: MetricQuery) -> Callable[[], Any]:
        def ask() -> Any:
            r = http.get("/metrics/query", params=http_params(q))
            if r.status_code != 200:
                raise SystemExit(f"HTTP {r.status_code}: {r.text[:500]}")
            return r.content

        return ask

    print(f"\n{'question':42} {'metricx p50/p95':>18} {'HTTP p50/p95':>18} {'DuckDB p50/p95':>18}")
    try:
        with factory() as session, factory() as writes:
            workspace = session.get(Workspace, ws_id)
            assert workspace is not None
            # What a question writes (a filtered range's reach fetch it queues) is committed
            # at once, as a request's is: left open, it held up the server's same write.
            service = UnifiedMetricService(session, use_cache=False, writes=writes)

            def in_process(q: MetricQuery) -> Any:
                answer = service.query(workspace, q)
                writes.commit()
                return answer

            for name, q in asked.items():
                assert in_process(q).groups, name
                a, h, d = timed_together(
                    [
                        lambda q=q: in_process(q),
                        over_http(q),
                        lambda name=name: duck(name),
                    ],
                    args.runs,
                )
                ratio = d[1] / a[1] if a[1] else float("inf")
                print(
                    f"{name:42} {a[0]:8.1f} /{a[1]:7.1f} {h[0]:8.1f} /{h[1]:7.1f}"
                    f" {d[0]:8.1f} /{d[1]:7.1f} ms  (DuckDB p95 / metricx p95: {ratio:.1f}x)"
                )
    finally:
        http.close()
        server.stop()


def duckdb_baseline(url: str, asked: dict[str, MetricQuery]) -> Callable[[str], Any]:
    """The same questions in DuckDB over the breakdown facts (with their hierarchy) as Parquet:
    each sums the facts (DuckDB has no rollups)."""
    import duckdb

    folder = Path(tempfile.mkdtemp(prefix="metricx-bdbench-"))
    atexit.register(shutil.rmtree, folder, True)  # DuckDB reads the Parquet until the end
    con = duckdb.connect()
    with psycopg.connect(url) as c, c.cursor() as cur:
        cur.execute("SELECT id, parent_id, level FROM entities")
        ents = cur.fetchall()
        con.execute("CREATE TABLE ent(id VARCHAR, parent VARCHAR, level VARCHAR)")
        con.executemany(
            "INSERT INTO ent VALUES (?, ?, ?)",
            [(str(i), str(p) if p else None, lv) for i, p, lv in ents],
        )
        started = time.perf_counter()
        path = folder / "bd.csv"
        with (
            path.open("wb") as f,
            cur.copy(
                "COPY (SELECT breakdown, entity_id, day, key1, key2, spend, impressions, clicks,"
                " conversions FROM breakdown_facts) TO STDOUT WITH (FORMAT csv)"
            ) as cp,
        ):
            for block in cp:
                f.write(block)
    con.execute(
        "COPY (SELECT column0::VARCHAR AS breakdown, column1::VARCHAR AS entity_id,"
        " column2::DATE AS day, column3::VARCHAR AS key1, coalesce(column4, '')::VARCHAR AS key2,"
        " column5::DECIMAL(18,6) AS spend, column6::BIGINT AS impressions,"
        " column7::BIGINT AS clicks, column8::DECIMAL(18,4) AS conversions"
        f" FROM read_csv('{path}', header=false)) TO '{folder / 'bd.parquet'}' (FORMAT parquet)"
    )
    path.unlink()
    con.execute(f"CREATE VIEW bd AS SELECT * FROM '{folder / 'bd.parquet'}'")
    print(f"DuckDB: exported to Parquet in {time.perf_counter() - started:.0f} s")
    sums = "sum(spend), sum(impressions), sum(clicks), sum(conversions)"
    tree = (
        "FROM bd f JOIN ent ad ON ad.id = f.entity_id JOIN ent s ON s.id = ad.parent"
        " JOIN ent c ON c.id = s.parent"
    )

    def days(q: MetricQuery) -> str:
        return f"f.day BETWEEN DATE '{q.start}' AND DATE '{q.end}'"

    qs = list(asked.values())
    sqls = {
        name: sql_
        for name, sql_ in zip(
            asked,
            [
                f"SELECT key1, key2, {sums} FROM bd f WHERE breakdown = 'age_gender'"
                f" AND {days(qs[0])} GROUP BY 1, 2",
                f"SELECT c.id, key1, {sums} {tree} WHERE breakdown = 'country' AND {days(qs[1])}"
                " GROUP BY 1, 2",
                f"SELECT key1, key2, {sums} {tree} WHERE breakdown = 'placement'"
                f" AND c.id = '{qs[2].entity_ids[0]}' AND {days(qs[2])} GROUP BY 1, 2",
                f"SELECT s.id, key1, {sums} {tree} WHERE breakdown = 'impression_device'"
                f" AND {days(qs[3])} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20",
                f"SELECT s.id, key1, {sums} {tree} WHERE breakdown = 'impression_device'"
                f" AND {days(qs[4])} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20",
                f"SELECT ad.id, key1, key2, {sums} {tree} WHERE breakdown = 'age_gender'"
                f" AND s.id = '{qs[5].entity_ids[0]}' AND {days(qs[5])} GROUP BY 1, 2, 3",
            ],
            strict=True,
        )
    }

    def ask(name: str) -> Any:
        return con.execute(sqls[name]).fetchall()

    return ask


if __name__ == "__main__":
    main()
