"""The numbers of docs/scaling.md: rows per ad, bytes per fact and rollup row, a month's
partition, and the SQL statements one dashboard page and one API query send.

    .venv/bin/python bench/scaling.py [--ads 500] [--days 31]
                                      [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Makes a fresh, migrated database, writes hourly and daily facts of --ads ads (10 ads per ad
set, 4 ad sets per campaign, one account) for --days days of one month through the real
writer (so the rollups are the real ones), measures, and drops the database.
"""

from __future__ import annotations

import argparse
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import event, text

from metricx.app import create_app
from metricx.auth.service import create_api_key, create_user
from metricx.config import Settings
from metricx.db import libpq_url, make_engine, make_sessionmaker, normalize_url, unit_of_work
from metricx.ingest.records import FactInput
from metricx.ingest.service import upsert_facts
from metricx.kit.crypto import Cipher
from metricx.migrate import upgrade
from metricx.models import Connection, Provider
from metricx.runtime import build_runtime
from metricx.workspaces.service import create_workspace

MONTH = date(2026, 10, 1)
PASSWORD = "scaling bench password"


def facts(ads: int, day: date) -> Iterator[FactInput]:
    for n in range(ads):
        adset, campaign = n // 10, n // 40
        parents = (f"adset-{adset}", f"cmp-{campaign}", "act-1")
        common = dict(external_entity_id=f"ad-{n}", provider="meta", level="ad", parents=parents)
        for hour in range(24):
            yield FactInput(
                granularity="hour", event_date=day, hour=hour, currency="USD",
                spend=Decimal(n % 7 + hour) / 10, impressions=100 + hour, clicks=hour % 5,
                conversions=Decimal(hour % 3), **common,
            )  # fmt: skip
        yield FactInput(
            granularity="day", event_date=day, currency="USD", spend=Decimal(n % 7 + 12) * 24 / 10,
            impressions=2676, clicks=48, reach=2000, conversions=Decimal(23), **common,
        )  # fmt: skip


def sizes(conn: Any, like: str) -> tuple[int, int, int]:
    """(rows, heap bytes, index bytes) of the tables whose name matches ``like``."""
    row = conn.execute(
        text(
            "SELECT coalesce(sum(c.reltuples), 0), coalesce(sum(pg_table_size(c.oid)), 0),"
            " coalesce(sum(pg_indexes_size(c.oid)), 0) FROM pg_class c"
            " WHERE c.relkind = 'r' AND c.relname LIKE :like"
        ),
        {"like": like},
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ads", type=int, default=500)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    admin = libpq_url(normalize_url(args.database_url))
    name = f"metricx_bench_scaling_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = normalize_url(re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", args.database_url, count=1))
    try:
        run(url, args.ads, args.days)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def run(url: str, ads: int, days: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    tmp = Path(f"/tmp/{uuid.uuid4().hex}")
    settings = Settings(
        database_url=url, data_dir=tmp, encryption_keys=Cipher.generate_key(),  # type: ignore[arg-type]
        secret_key=secrets.token_hex(16), secure_cookies=False, answer_cache_seconds=0,  # type: ignore[arg-type]
    )  # fmt: skip
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as s:
        user = create_user(s, email="bench@example.com", password=PASSWORD)
        ws = create_workspace(s, name="bench", owner_id=user.id, timezone="UTC")
        conn = Connection(
            workspace_id=ws.id, provider=Provider.META, external_account_id="act_1",
            name="bench", currency="USD", timezone="America/Los_Angeles",
        )  # fmt: skip
        s.add(conn)
        s.flush()
        key = create_api_key(s, workspace_id=ws.id).key
        ws_id, conn_id = ws.id, conn.id
    started = time.monotonic()
    for d in range(days):
        with unit_of_work(sessions) as s:
            upsert_facts(
                s, settings=settings, workspace_id=ws_id,
                records=facts(ads, MONTH + timedelta(days=d)), connection_id=conn_id,
            )  # fmt: skip
    load = time.monotonic() - started
    with psycopg.connect(libpq_url(url), autocommit=True) as raw:
        raw.execute("VACUUM ANALYZE")
    with engine.connect() as c:
        by_grain = dict(
            c.execute(text("SELECT granularity, count(*) FROM metric_facts GROUP BY 1")).all()
        )
        rollups = c.execute(
            text(
                "SELECT granularity, level, count(*)"
                " FROM metric_rollups GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ).all()
        fact_rows, fact_heap, fact_index = sizes(c, "metric_facts_p2026_10")
        roll_rows, roll_heap, roll_index = sizes(c, "metric_rollups")
        entities = c.execute(text("SELECT count(*) FROM entities")).scalar_one()
    mib = 1024 * 1024
    total = sum(by_grain.values())
    shape = f"{-(-ads // 10)} ad sets, {-(-ads // 40)} campaigns"
    print(f"{ads} ads ({shape}), {days} days: {total:,} facts")
    print(f"written in {load:.1f} s")
    per_ad = ", ".join(f"{g} {n / ads / days:g}" for g, n in sorted(by_grain.items()))
    print(f"facts per ad per day: {per_ad}")
    for label, (rows, heap, index) in {
        "month partition": (fact_rows, fact_heap, fact_index),
        "rollups": (roll_rows, roll_heap, roll_index),
    }.items():
        per_row = (heap + index) / max(rows, 1)
        print(
            f"{label}: {rows:,} rows, heap {heap / mib:.1f} MiB + indexes {index / mib:.1f} MiB"
            f" = {per_row:.0f} B/row"
        )
    for g, level, n in rollups:
        print(f"  rollup {g:>8} {level:>9}: {n:>8,} rows ({n / days:,.0f} per day)")
    print(f"entities: {entities}")
    time_bi_views(engine, ws_id, days)
    count_queries(engine, settings, ws_id, key, days)
    engine.dispose()


def time_bi_views(engine: Any, ws: uuid.UUID, days: int) -> None:
    """What a BI tool's month question costs on the bi views (median of 3, warm)."""
    end = MONTH + timedelta(days=days - 1)
    questions = {
        "bi.campaign_daily, month by campaign": "SELECT campaign_id, sum(spend)"
        " FROM bi.campaign_daily WHERE workspace_id = :ws AND day BETWEEN :s AND :e GROUP BY 1",
        "bi.ad_daily, month by ad": "SELECT ad_id, sum(spend), sum(clicks)"
        " FROM bi.ad_daily WHERE workspace_id = :ws AND day BETWEEN :s AND :e GROUP BY 1",
    }
    with engine.connect() as c:
        for label, query in questions.items():
            took = []
            for _ in range(3):
                started = time.monotonic()
                rows = c.execute(text(query), {"ws": ws, "s": MONTH, "e": end}).all()
                took.append((time.monotonic() - started) * 1000)
            print(f"{label}: {len(rows)} rows, {sorted(took)[1]:.0f} ms")


def count_queries(engine: Any, settings: Settings, ws: uuid.UUID, key: str, days: int) -> None:
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def seen(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        statements.append(statement)

    app = create_app(build_runtime(settings, engine=engine))
    end = MONTH + timedelta(days=days - 1)
    with TestClient(app, base_url="http://bench") as http:
        page = http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        http.post(
            "/login",
            data={"email": "bench@example.com", "password": PASSWORD, "csrf_token": token.group(1)},
        )
        asks = {
            "dashboard page (campaigns, month)": (
                f"/w/{ws}?range=custom&start={MONTH}&end={end}&level=campaign",
                {},
            ),
            "dashboard page (ads, month)": (
                f"/w/{ws}?range=custom&start={MONTH}&end={end}&level=ad",
                {},
            ),
            "API query (campaign, day, month)": (
                f"/api/v1/workspaces/{ws}/metrics/query?start={MONTH}&end={end}"
                "&granularity=day&level=campaign&group_by=entity&limit=20",
                {"Authorization": f"Bearer {key}"},
            ),
        }
        for label, (path, headers) in asks.items():
            for run in ("cold", "warm"):
                statements.clear()
                started = time.monotonic()
                answer = http.get(path, headers=headers)
                took = (time.monotonic() - started) * 1000
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                work = [
                    s for s in statements if not s.lstrip().upper().startswith(("SET", "BEGIN"))
                ]
                print(
                    f"{label} {run}: {len(work)} statements"
                    f" ({len(statements)} in all), {took:.0f} ms"
                )


if __name__ == "__main__":
    main()
