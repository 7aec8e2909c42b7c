"""Metrics sync benchmark: a sandbox account with N ads (default 1,000): a 30-day hourly +
daily backfill, then an hourly incremental sync (lookback windows), against the naive
per-entity approach (list campaigns/ad sets/ads, then one daily + one hourly insights call per
ad) as the baseline of API calls.

    .venv/bin/python bench/sync.py [--ads 1000] [--naive-sample 100]
                                   [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Makes a fresh, migrated database on that server (dropped at the end). Prints wall time, API
calls, async jobs, rows/s and peak RSS of each pass. Targets: backfill < 3 min, >= 20x fewer
calls than naive, incremental < 15 s, memory flat from 1,000 to 5,000 ads.
"""

from __future__ import annotations

import argparse
import resource
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import create_engine

from metricx.auth.service import create_user
from metricx.config import Settings
from metricx.connections.service import add_with_token
from metricx.db import libpq_url, make_engine, make_sessionmaker, normalize_url, unit_of_work
from metricx.integrations.meta.client import MetaAdsClient
from metricx.kit.crypto import Cipher
from metricx.logging import configure_logging
from metricx.migrate import upgrade
from metricx.models import Connection, Fetch
from metricx.runtime import Runtime
from metricx.sandbox.config import SandboxConfig
from metricx.sandbox.server import run_in_thread
from metricx.sync import runner, service
from metricx.workspaces.service import create_workspace


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pass(runtime: Runtime, connection_id: Any, now: datetime, **window: Any) -> dict[str, Any]:
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Connection, connection_id)
        assert row is not None
        fetch_id = service.request_sync(
            session, settings=runtime.settings, connection=row, now=now, **window
        ).id
    started = time.perf_counter()
    while runner.run_fetch(runtime, fetch_id) == "deferred":
        time.sleep(1)
    wall = time.perf_counter() - started
    with unit_of_work(runtime.sessions) as session:
        f = session.get(Fetch, fetch_id)
        assert f is not None
        return {
            "kind": f.kind,
            "status": f.status.value,
            "wall_s": round(wall, 1),
            "calls": f.calls,
            "async_jobs": f.async_jobs,
            "rows": f.rows,
            "revised": f.revised,
            "rows_per_s": round(f.rows / wall) if wall else 0,
            "peak_rss_mb": round(peak_rss_mb()),
        }


def naive_calls(
    settings: Settings, token: str, account: str, sample: int, since: str, until: str
) -> dict[str, Any]:
    """The per-entity approach's calls, measured on ``sample`` ads and extrapolated."""
    client = MetaAdsClient.from_settings(settings, token)
    campaigns = list(client.iter_campaigns(account))
    adsets = list(client.iter_adsets(account))
    ads = list(client.iter_ads(account))
    listing = client.stats.calls
    time_range = {"since": since, "until": until}
    for ad in ads[:sample]:
        for options in ({}, {"breakdowns": ["hourly_stats_aggregated_by_advertiser_time_zone"]}):
            for _ in client.get_insights(
                ad["id"],
                level="ad",
                fields=["spend", "impressions", "clicks"],
                time_range=time_range,
                time_increment=1,
                page_size=5000,
                **options,
            ):
                pass
    per_ad = (client.stats.calls - listing) / max(1, min(sample, len(ads)))
    return {
        "campaigns": len(campaigns),
        "adsets": len(adsets),
        "ads": len(ads),
        "listing_calls": listing,
        "insights_calls_per_ad": round(per_ad, 2),
        "total_calls": round(listing + per_ad * len(ads)),
        "measured_ads": min(sample, len(ads)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ads", type=int, default=1000)
    parser.add_argument("--naive-sample", type=int, default=100)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    now = datetime.now(UTC).replace(minute=40, second=0, microsecond=0) - timedelta(hours=1)
    adsets = max(1, args.ads // 100)
    config = SandboxConfig(
        seed=77,
        accounts=1,
        campaigns=10,
        adsets_per_campaign=adsets,
        ads_per_adset=10,
        days=32,
        tier="standard",
        clock=now,
        frozen_clock=True,
    )
    url, stop = run_in_thread(config)
    admin = libpq_url(normalize_url(args.database_url))
    name = f"metricx_bench_sync_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = normalize_url(args.database_url.rsplit("/", 1)[0] + "/" + name)
    try:
        engine = create_engine(db_url)
        upgrade(engine)
        engine.dispose()
        keys = Cipher.generate_key()
        settings = Settings(
            database_url=db_url,
            encryption_keys=keys,
            secret_key="s" * 32,
            meta_app_id=config.app_id,
            meta_app_secret=config.app_secret,
            meta_graph_url=url,
            sync_backfill_days=30,
        )
        eng = make_engine(db_url)
        runtime = Runtime(
            settings, db_url, eng, make_sessionmaker(eng), Cipher.from_csv(keys), "x" * 32
        )
        import httpx

        token = httpx.post(url + "/_sandbox/token", json={}).json()["token"]
        account = httpx.get(url + "/_sandbox").json()["accounts"][0]["id"]
        with unit_of_work(runtime.sessions) as session:
            owner = create_user(session, email="bench@example.com", password="bench password 1")
            ws = create_workspace(session, name="bench", owner_id=owner.id, timezone="UTC")
            [conn_row] = add_with_token(
                session,
                settings=settings,
                cipher=runtime.cipher,
                workspace_id=ws.id,
                access_token=token,
                accounts=[account],
                created_by=None,
            )
            connection_id = conn_row.id
        backfill = run_pass(runtime, connection_id, now)
        incremental = run_pass(runtime, connection_id, now + timedelta(hours=1))
        today = now.date()
        naive = naive_calls(
            settings,
            token,
            account,
            args.naive_sample,
            (today - timedelta(days=29)).isoformat(),
            today.isoformat(),
        )
        print(
            f"sandbox: 1 account, {naive['ads']} ads ({naive['adsets']} ad sets, "
            f"{naive['campaigns']} campaigns), 30 days, hourly + daily"
        )
        print(f"backfill:    {backfill}")
        print(f"incremental: {incremental}")
        print(f"naive per-entity baseline: {naive}")
        ratio = naive["total_calls"] / max(1, backfill["calls"])
        print(
            f"calls: metricx {backfill['calls']} vs naive {naive['total_calls']} "
            f"-> {ratio:.1f}x fewer"
        )
        eng.dispose()
    finally:
        stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
