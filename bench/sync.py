"""Metrics sync benchmark: a sandbox account with N ads (default 1,000): a 30-day hourly +
daily backfill, then an hourly incremental sync (lookback windows), against the naive
per-entity approach (the roadmap's: list campaigns/ad sets/ads, then insights per entity for
the same data the sync stores: daily + hourly per ad, daily reach per ad set, campaign and
account) as the baseline of API calls.

    .venv/bin/python bench/sync.py [--ads 1000] [--naive-sample 100] [--report-concurrency 3]
                                   [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
    .venv/bin/python bench/sync.py [--no-breakdowns]
    .venv/bin/python bench/sync.py --compare-ads 1000,5000
    .venv/bin/python bench/sync.py --workspace-accounts 20 [--latency 0.25]

Makes a fresh, migrated database on that server (dropped at the end) and serves the sandbox
from its own process, so the memory figures are the syncing process's alone. Prints wall time,
API calls, async jobs, rows/s and the peak RSS of each pass (and the RSS before it).
--compare-ads runs each size in a fresh process, one after the other, then prints the peaks
side by side and their ratio. Targets: backfill < 3 min, >= 20x fewer calls than naive,
incremental < 15 s, memory flat from 1,000 to 5,000 ads.

The backfill fetches the default breakdown sets (age x gender, country, placement, impression
device: one report job per set and 31-day window) unless --no-breakdowns; the breakdown rows
read and stored are printed with the backfill (the incremental is an hourly one: breakdowns
are re-read by the daily lookback pass only).

--workspace-accounts N connects N sandbox accounts to ONE workspace (an agency's case) and
backfills them with 1 worker, then (a second workspace, the same accounts, the same work)
with 3 workers: processes running the sync job one fetch at a time, as `metricx worker`
processes do. The sandbox answers
every call after --latency seconds, as Meta's latency dominates a real sync. Since a chunk
holds no transaction and no workspace lock while it fetches, the accounts of one workspace
sync side by side: target 3 workers >= 2.5x faster than 1.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from prometheus_client import REGISTRY
from rss import max_rss_mib  # bench/rss.py (the scripts run from bench/)
from sqlalchemy import create_engine, text

from metricx.auth.service import create_user
from metricx.config import Settings
from metricx.connections.service import add_with_token
from metricx.db import libpq_url, make_engine, make_sessionmaker, normalize_url, unit_of_work
from metricx.integrations.meta.action_rows import fetch_custom_conversions
from metricx.integrations.meta.client import MetaAdsClient
from metricx.kit.crypto import Cipher
from metricx.logging import configure_logging
from metricx.metrics.reach import standard_ranges
from metricx.migrate import upgrade
from metricx.models import Connection, Fetch
from metricx.runtime import Runtime
from metricx.sandbox.config import FaultConfig, SandboxConfig
from metricx.sandbox.server import free_port
from metricx.sync import runner, service
from metricx.sync.checkpoints import sync_of
from metricx.workspaces.service import create_workspace

RESULT = "RESULT "  # the line a --compare-ads child hands its figures back on


def _status_kib(field: str) -> int | None:
    try:
        found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def rss_mb() -> float:
    kib = _status_kib("VmRSS")
    return kib / 1024 if kib is not None else peak_rss_mb()


def reset_peak_rss() -> None:
    """Start a new peak (Linux: writing 5 to clear_refs resets VmHWM); elsewhere the peak
    stays the process's whole-life one."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib / 1024
    return max_rss_mib()


def run_pass(runtime: Runtime, connection_id: Any, now: datetime, **window: Any) -> dict[str, Any]:
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Connection, connection_id)
        assert row is not None
        fetch_id = service.request_sync(
            session, settings=runtime.settings, connection=row, now=now, **window
        ).id
    rss_before = rss_mb()
    reset_peak_rss()
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
            "rss_before_mb": round(rss_before),
            "peak_rss_mb": round(peak_rss_mb()),
        }


def naive_calls(
    settings: Settings, token: str, account: str, sample: int, since: str, until: str
) -> dict[str, Any]:
    """The per-entity approach's calls (the roadmap's "iterate accounts/campaigns/adsets/ads,
    fetch insights per entity") for the same data the sync stores: per ad, daily and hourly
    rows; per account, campaign and ad set, the daily reach and the reach of each standard
    range, which cannot be derived from ads; the account's custom conversions.
    Measured on ``sample`` entities of each level and extrapolated."""
    client = MetaAdsClient.from_settings(settings, token)
    campaigns = list(client.iter_campaigns(account))
    adsets = list(client.iter_adsets(account))
    ads = list(client.iter_ads(account))
    listing = client.stats.calls
    time_range = {"since": since, "until": until}
    hourly = {"breakdowns": ["hourly_stats_aggregated_by_advertiser_time_zone"]}

    daily = (["spend", "impressions", "clicks", "reach"], {})
    hours = (["spend", "impressions", "clicks"], hourly)  # Meta has no hourly reach

    def per_entity(level: str, ids: list[str], shapes: list[tuple[list[str], Any]]) -> float:
        before = client.stats.calls
        for entity_id in ids[:sample]:
            for fields, options in shapes:
                for _ in client.get_insights(
                    entity_id,
                    level=level,
                    fields=fields,
                    time_range=time_range,
                    time_increment=1,
                    page_size=5000,
                    **options,
                ):
                    pass
        return (client.stats.calls - before) / max(1, min(sample, len(ids)))

    # The custom conversions named in the actions: one paged listing per account.
    before = client.stats.calls
    for _ in fetch_custom_conversions(client, account):
        pass
    listing += client.stats.calls - before

    per_ad = per_entity("ad", [a["id"] for a in ads], [daily, hours])
    per_adset = per_entity("adset", [a["id"] for a in adsets], [daily])
    per_campaign = per_entity("campaign", [c["id"] for c in campaigns], [daily])
    per_account = per_entity("account", [account], [daily])
    # Reach over the standard ranges (last 7/14/30 days, this and last week and month) cannot
    # be summed from days: one call per range for the account, each campaign and each ad set.
    ranges = len(standard_ranges(date.fromisoformat(until) + timedelta(days=1)))
    range_reach = ranges * (1 + len(campaigns) + len(adsets))
    insights = (
        per_ad * len(ads)
        + per_adset * len(adsets)
        + per_campaign * len(campaigns)
        + per_account
        + range_reach
    )
    return {
        "campaigns": len(campaigns),
        "adsets": len(adsets),
        "ads": len(ads),
        "listing_calls": listing,
        "insights_calls_per_ad": round(per_ad, 2),
        "insights_calls_per_adset": round(per_adset, 2),
        "insights_calls_per_campaign": round(per_campaign, 2),
        "range_reach_calls": range_reach,
        "total_calls": round(listing + insights),
        "measured_ads": min(sample, len(ads)),
    }


@contextmanager
def sandbox_process(config: SandboxConfig) -> Iterator[str]:
    """`metricx sandbox` in its own process (its world and answers stay out of this process's
    memory); yields its base URL."""
    port = free_port()
    assert config.clock is not None
    args = [
        str(Path(sys.executable).parent / "metricx"),
        "sandbox",
        f"--port={port}",
        f"--seed={config.seed}",
        f"--accounts={config.accounts}",
        f"--campaigns={config.campaigns}",
        f"--adsets-per-campaign={config.adsets_per_campaign}",
        f"--ads-per-adset={config.ads_per_adset}",
        f"--days={config.days}",
        f"--tier={config.tier}",
        f"--clock={config.clock.isoformat()}",
        "--freeze-clock",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/_sandbox", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the sandbox did not start on port {port}")
            time.sleep(0.2)
        if config.faults.report_max_rows:
            faults = {"report_max_rows": config.faults.report_max_rows}
            httpx.post(url + "/_sandbox/faults", json=faults).raise_for_status()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def bench_database(database_url: str) -> Iterator[str]:
    """A fresh, migrated database on the server of ``database_url``; dropped afterwards."""
    admin = libpq_url(normalize_url(database_url))
    name = f"metricx_bench_sync_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = normalize_url(database_url.rsplit("/", 1)[0] + "/" + name)
    try:
        engine = create_engine(db_url)
        upgrade(engine)
        engine.dispose()
        yield db_url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def splits() -> float:
    """Chunks split so far in this process (metricx_sync_chunk_splits_total)."""
    return sum(
        REGISTRY.get_sample_value("metricx_sync_chunk_splits_total", {"part": part}) or 0.0
        for part in ("ad_day", "ad_hour", "reach", "breakdown")
    )


def measure(
    ads: int,
    naive_sample: int,
    database_url: str,
    report_max_rows: int = 0,
    report_concurrency: int | None = None,
    breakdowns: bool = True,
) -> dict[str, Any]:
    """Backfill, incremental sync and the naive baseline of one account with ``ads`` ads;
    ``report_max_rows``: the sandbox fails report jobs above that many rows (big accounts);
    ``report_concurrency``: chunks fetched at once (default: the setting's default)."""
    now = datetime.now(UTC).replace(minute=40, second=0, microsecond=0) - timedelta(hours=1)
    adsets = max(1, ads // 100)
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
        faults=FaultConfig(report_max_rows=report_max_rows),
    )
    with bench_database(database_url) as db_url, sandbox_process(config) as url:
        keys = Cipher.generate_key()
        settings = Settings(
            database_url=db_url,
            encryption_keys=keys,
            secret_key="s" * 32,
            meta_app_id=config.app_id,
            meta_app_secret=config.app_secret,
            meta_graph_url=url,
            sync_backfill_days=30,
            sync_breakdowns=breakdowns,
        )
        if report_concurrency is not None:
            settings.sync_report_concurrency = report_concurrency
        eng = make_engine(db_url)
        runtime = Runtime(
            settings, db_url, eng, make_sessionmaker(eng), Cipher.from_csv(keys), "x" * 32
        )
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
        before = splits()
        backfill = run_pass(runtime, connection_id, now)
        backfill["splits"] = int(splits() - before)
        backfill["report_concurrency"] = settings.sync_report_concurrency
        incremental = run_pass(runtime, connection_id, now + timedelta(hours=1))
        with eng.connect() as db:  # every action type x window of each ad-day (issue 16)
            actions, ad_days = db.execute(
                text(
                    "SELECT (SELECT count(*) FROM action_facts), (SELECT count(*) FROM"
                    " metric_facts WHERE level = 'ad' AND granularity = 'day')"
                )
            ).one()
        with eng.connect() as db:  # the breakdown sets' rows (issue 17)
            stored = db.execute(text("SELECT count(*) FROM breakdown_facts")).scalar_one()
            chunks = db.execute(
                text(
                    "SELECT count(*), coalesce(sum((c->>'rows')::int), 0),"
                    " sum(extract(epoch FROM (c->>'fetch_finished')::timestamptz"
                    " - (c->>'fetch_started')::timestamptz)),"
                    " sum(extract(epoch FROM (c->>'write_finished')::timestamptz"
                    " - (c->>'write_started')::timestamptz))"
                    " FROM fetches f, jsonb_array_elements(f.checkpoint->'chunks') c"
                    " WHERE f.kind = 'backfill' AND c->>'part' = 'breakdown'"
                )
            ).one()
        backfill["breakdown_chunks"] = chunks[0]
        backfill["breakdown_rows_read"] = chunks[1]
        # summed over the chunks (they are fetched side by side: more than their wall time)
        backfill["breakdown_fetch_s"] = round(float(chunks[2] or 0), 1)
        backfill["breakdown_write_s"] = round(float(chunks[3] or 0), 1)
        backfill["breakdown_facts"] = stored
        backfill["action_facts"] = actions
        backfill["action_facts_per_ad_day"] = round(actions / max(1, ad_days), 1)
        today = now.date()
        naive = naive_calls(
            settings,
            token,
            account,
            naive_sample,
            (today - timedelta(days=29)).isoformat(),
            today.isoformat(),
        )
        eng.dispose()
    return {"backfill": backfill, "incremental": incremental, "naive": naive}


def report(result: dict[str, Any]) -> None:
    backfill, incremental, naive = result["backfill"], result["incremental"], result["naive"]
    print(
        f"sandbox: 1 account, {naive['ads']} ads ({naive['adsets']} ad sets, "
        f"{naive['campaigns']} campaigns), 30 days, hourly + daily"
        + (" + default breakdown sets" if backfill.get("breakdown_chunks") else "")
    )
    print(f"backfill:    {backfill}")
    print(f"incremental: {incremental}")
    print(f"naive per-entity baseline: {naive}")
    ratio = naive["total_calls"] / max(1, backfill["calls"])
    print(
        f"calls: metricx {backfill['calls']} vs naive {naive['total_calls']} -> {ratio:.1f}x fewer"
    )


def compare(
    sizes: list[int], naive_sample: int, database_url: str, breakdowns: bool = True
) -> None:
    """Each size in a fresh process (a peak RSS never carries over), then side by side."""
    results: dict[int, dict[str, Any]] = {}
    for ads in sizes:
        print(f"== {ads} ads", flush=True)
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                f"--ads={ads}",
                f"--naive-sample={naive_sample}",
                f"--database-url={database_url}",
                "--result-line",
                *([] if breakdowns else ["--no-breakdowns"]),
            ],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        for line in child.stdout.splitlines():
            if line.startswith(RESULT):
                results[ads] = json.loads(line.removeprefix(RESULT))
            else:
                print(line)
    print("== memory of the syncing process (sandbox in its own process)")
    for ads, r in results.items():
        b, i = r["backfill"], r["incremental"]
        ratio = r["naive"]["total_calls"] / max(1, b["calls"])
        print(
            f"{ads:>6} ads: backfill {b['wall_s']} s, {b['calls']} calls ({ratio:.0f}x fewer than"
            f" per-entity), peak RSS {b['peak_rss_mb']} MB (from {b['rss_before_mb']} MB);"
            f" incremental {i['wall_s']} s, peak RSS {i['peak_rss_mb']} MB"
        )
    small, large = results[sizes[0]]["backfill"], results[sizes[-1]]["backfill"]
    grown = (large["peak_rss_mb"] - large["rss_before_mb"]) / max(
        1, small["peak_rss_mb"] - small["rss_before_mb"]
    )
    print(
        f"backfill peak RSS {sizes[-1]} vs {sizes[0]} ads: "
        f"{large['peak_rss_mb'] / max(1, small['peak_rss_mb']):.2f}x "
        f"(growth over the start {grown:.2f}x) for {sizes[-1] / sizes[0]:.0f}x the ads; "
        "target: flat (about 1x)"
    )


_worker_runtime: Runtime | None = None


def _start_worker(settings: Settings, keys: str) -> None:
    """A worker process's runtime (its own engine), built once when the process starts."""
    global _worker_runtime
    configure_logging("console", "WARNING")
    url = settings.database_url
    assert url is not None
    eng = make_engine(url)
    _worker_runtime = Runtime(
        settings, url, eng, make_sessionmaker(eng), Cipher.from_csv(keys), "x" * 32
    )


def _ready(_: int) -> int:
    return os.getpid()


def _run_job(fetch_id: Any) -> str | None:
    assert _worker_runtime is not None
    while (status := runner.run_fetch(_worker_runtime, fetch_id)) == "deferred":
        time.sleep(0.5)
    return status


def sync_all(settings: Settings, keys: str, fetch_ids: list[Any], workers: int) -> float:
    """Run the queued syncs with ``workers`` worker processes taking them one at a time, as
    `metricx worker` processes take jobs; the wall time until the last one is done (the
    processes are started and warm before the clock starts)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(settings, keys)) as pool:
        pids = set(pool.map(_ready, range(workers * 4), chunksize=1))
        assert pids, "no worker started"
        started = time.perf_counter()
        statuses = list(pool.imap_unordered(_run_job, fetch_ids, chunksize=1))
        wall = time.perf_counter() - started
    assert statuses.count("succeeded") == len(fetch_ids), statuses
    return wall


def workspace_scale_out(accounts: int, latency: float, database_url: str) -> None:
    """N accounts of one workspace: 1 worker vs 3 workers, the same work each time."""
    now = datetime.now(UTC).replace(minute=40, second=0, microsecond=0) - timedelta(hours=1)
    config = SandboxConfig(
        seed=2020,
        accounts=accounts,
        campaigns=2,
        adsets_per_campaign=2,
        ads_per_adset=5,
        days=10,
        tier="standard",
        clock=now,
        frozen_clock=True,
    )
    with bench_database(database_url) as db_url, sandbox_process(config) as url:
        keys = Cipher.generate_key()
        settings = Settings(
            database_url=db_url,
            encryption_keys=keys,
            secret_key="s" * 32,
            meta_app_id=config.app_id,
            meta_app_secret=config.app_secret,
            meta_graph_url=url,
            sync_backfill_days=7,
            sync_lock_retry_seconds=0.5,
        )
        eng = make_engine(db_url)
        runtime = Runtime(
            settings, db_url, eng, make_sessionmaker(eng), Cipher.from_csv(keys), "x" * 32
        )
        token = httpx.post(url + "/_sandbox/token", json={}).json()["token"]
        ids = [a["id"] for a in httpx.get(url + "/_sandbox").json()["accounts"]]
        httpx.post(
            url + "/_sandbox/faults", json={"slow_rate": 1.0, "slow_seconds": latency}
        ).raise_for_status()
        with unit_of_work(runtime.sessions) as session:
            owner = create_user(session, email="bench@example.com", password="bench password 1")
        walls: dict[int, float] = {}
        calls: dict[int, int] = {}
        for workers in (1, 3):
            with unit_of_work(runtime.sessions) as session:
                ws = create_workspace(
                    session, name=f"agency {workers}", owner_id=owner.id, timezone="UTC"
                )
                rows = add_with_token(
                    session,
                    settings=settings,
                    cipher=runtime.cipher,
                    workspace_id=ws.id,
                    access_token=token,
                    accounts=ids,
                    created_by=None,
                )
                fetches = [
                    service.request_sync(session, settings=settings, connection=r, now=now)
                    for r in rows
                ]
                session.flush()
                fetch_ids = [f.id for f in fetches]
            walls[workers] = sync_all(settings, keys, fetch_ids, workers)
            with unit_of_work(runtime.sessions) as session:
                done = [session.get(Fetch, i) for i in fetch_ids]
                assert all(f is not None and f.status.value == "succeeded" for f in done)
                calls[workers] = sum(f.calls for f in done if f is not None)
                chunks = [c for f in done if f is not None for c in sync_of(f).chunks]
            fetching = sum(
                (c.fetch_finished - c.fetch_started).total_seconds()
                for c in chunks
                if c.fetch_started and c.fetch_finished
            )
            writing = sum(
                (c.write_finished - c.write_started).total_seconds()
                for c in chunks
                if c.write_started and c.write_finished
            )
            print(
                f"{accounts} accounts in one workspace, {workers} worker(s): "
                f"{walls[workers]:.1f} s wall, {calls[workers]} Meta calls; chunks spent "
                f"{fetching:.1f} s fetching from Meta, {writing:.1f} s writing",
                flush=True,
            )
        eng.dispose()
    ratio = walls[1] / walls[3]
    print(
        f"3 workers vs 1 on one workspace ({latency:.2f} s per Meta call): {ratio:.2f}x faster;"
        " target >= 2.5x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ads", type=int, default=1000)
    parser.add_argument("--naive-sample", type=int, default=100)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--compare-ads",
        help="comma-separated sizes (e.g. 1000,5000), each measured in a fresh process",
    )
    parser.add_argument(
        "--workspace-accounts",
        type=int,
        help="N accounts in one workspace: 1 worker vs 3 workers (e.g. 20)",
    )
    parser.add_argument("--latency", type=float, default=0.25, help="seconds per Meta call")
    parser.add_argument(
        "--report-max-rows",
        type=int,
        default=0,
        help="the sandbox fails report jobs above this many rows (a big account's Meta)",
    )
    parser.add_argument(
        "--report-concurrency",
        type=int,
        help="chunks of the account fetched at once (METRICX_SYNC_REPORT_CONCURRENCY; 1: one "
        "after another)",
    )
    parser.add_argument(
        "--no-breakdowns",
        action="store_true",
        help="sync no breakdown sets (METRICX_SYNC_BREAKDOWNS=false)",
    )
    parser.add_argument("--result-line", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    if args.workspace_accounts:
        workspace_scale_out(args.workspace_accounts, args.latency, args.database_url)
        return
    if args.compare_ads:
        sizes = [int(n) for n in args.compare_ads.split(",")]
        compare(sizes, args.naive_sample, args.database_url, not args.no_breakdowns)
        return
    result = measure(
        args.ads,
        args.naive_sample,
        args.database_url,
        args.report_max_rows,
        args.report_concurrency,
        not args.no_breakdowns,
    )
    report(result)
    if args.result_line:
        print(RESULT + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
