"""Bounded load test on loopback: `metricx serve` and `metricx worker` processes against a
fresh database, Meta played by the sandbox, and concurrent clients for N seconds: ingest
batches, dashboard queries (/metrics/query, /metrics/latest) and sync requests. A query is a
day range (1, 7, 30 days) at campaign or ad level, totals alone or per entity; a per-entity
question asks for the line over its rows, as the dashboard does (`--series group`: a line per
row, the heavier API question).

    .venv/bin/python bench/load.py [--seconds 120] [--clients 3] [--batch 500]
                                   [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Prints p50 / p95 / p99 latency and counts per operation and the errors; exits non-zero on
any 5xx (or on any unexpected answer). The database is dropped at the end. Every loop is
bounded by the deadline; all listeners are on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine

from metricx.auth.service import create_api_key, create_user
from metricx.connections.service import add_with_token
from metricx.db import libpq_url, make_engine, make_sessionmaker, normalize_url, unit_of_work
from metricx.kit.crypto import Cipher
from metricx.migrate import upgrade
from metricx.runtime import Runtime
from metricx.sandbox.config import SandboxConfig
from metricx.sandbox.server import free_port
from metricx.workspaces.service import create_workspace

BIN = Path(sys.executable).parent / "metricx"
# Answers that are part of the contract under load, not errors: a sync already queued (409).
EXPECTED = {"sync": {202, 409}, "ingest": {200}, "query": {200}, "latest": {200}}


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    failures: list[str] = field(default_factory=list)
    # query latencies by the question's shape (days, group_by, level)
    shapes: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def record(
        self, op: str, started: float, status: int, detail: str = "", shape: str = ""
    ) -> None:
        self.latencies[op].append((time.perf_counter() - started) * 1000)
        if shape:
            self.shapes[shape].append(self.latencies[op][-1])
        self.statuses[op][status] += 1
        if status not in EXPECTED[op] and len(self.failures) < 20:
            self.failures.append(f"{op} -> {status}: {detail[:200]}")


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def records(batch: int, rng: random.Random) -> list[dict[str, Any]]:
    today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return [
        {
            "external_entity_id": f"load-ad-{rng.randrange(200)}",
            "provider": "other",
            "level": "ad",
            "granularity": "hour",
            "event_at": (today - timedelta(hours=rng.randrange(24 * 30))).isoformat(),
            "spend": f"{rng.uniform(0, 50):.2f}",
            "impressions": (imp := rng.randrange(10, 5000)),
            "clicks": rng.randrange(0, imp // 10 + 1),
            "currency": "USD",
        }
        for _ in range(batch)
    ]


async def client_loop(
    op: str, http: httpx.AsyncClient, base: str, deadline: float, tally: Tally, **ctx: Any
) -> None:
    rng = random.Random(hash((op, ctx.get("n", 0))))
    today = date.today()
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        shape = ""
        try:
            if op == "ingest":
                r = await http.post(
                    f"{base}/metrics/ingest", json={"records": records(ctx["batch"], rng)}
                )
            elif op == "query":
                days = rng.choice([1, 7, 30])
                params = {
                    "start": (today - timedelta(days=days)).isoformat(),
                    "end": today.isoformat(),
                    "granularity": "hour" if days == 1 else "day",
                    "group_by": rng.choice(["none", "entity"]),
                    "level": rng.choice(["campaign", "ad"]),
                }
                if params["group_by"] == "entity":
                    params["series"] = ctx["series"]
                shape = f"{days}d {params['group_by']} {params['level']}"
                r = await http.get(f"{base}/metrics/query", params=params)
            elif op == "latest":
                r = await http.get(f"{base}/metrics/latest", params={"hours": 6})
            else:
                cid = rng.choice(ctx["connections"])
                r = await http.post(f"{base}/connections/{cid}/sync", json={})
        except httpx.HTTPError as exc:
            tally.record(op, started, 599, repr(exc))
            continue
        tally.record(op, started, r.status_code, r.text, shape)
        if op == "sync":
            await asyncio.sleep(2.0)  # a person presses "sync" now and then


def rss_mib(pid: int) -> float:
    """The resident set of process ``pid`` now, in MiB (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class RssWatch:
    """The server's resident set: at the start of the load, its peak (sampled twice a
    second) and after the load, once the process has had ``settle`` seconds of quiet."""

    pid: int
    start: float = 0.0
    peak: float = 0.0
    end: float = 0.0
    samples: list[tuple[float, float]] = field(default_factory=list)

    async def watch(self, deadline: float) -> None:
        began = time.perf_counter()
        self.start = self.peak = rss_mib(self.pid)
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.5)
            now = rss_mib(self.pid)
            self.peak = max(self.peak, now)
            self.samples.append((time.perf_counter() - began, now))


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--clients", type=int, default=3, help="concurrent clients per kind")
    parser.add_argument("--batch", type=int, default=500, help="records per ingest batch")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database (its name is printed)"
    )
    parser.add_argument(
        "--kinds",
        default="ingest,query,latest,sync",
        help="which kinds of client run (a subset isolates one kind's cost)",
    )
    parser.add_argument(
        "--prefill",
        type=float,
        default=0.0,
        help="seconds of ingest alone before the timed load (with --kinds query,latest: the "
        "questions' cost without a write load)",
    )
    parser.add_argument(
        "--series",
        choices=["total", "group"],
        default="total",
        help="the series a per-entity question asks for: total (one line over the rows, as "
        "the dashboard's table and chart ask it) or group (a line per campaign or ad: at ad "
        "level thousands of points, MBs of JSON, which no dashboard view asks for)",
    )
    parser.add_argument(
        "--settle", type=float, default=10.0, help="quiet seconds before the server's end RSS"
    )
    args = parser.parse_args()
    kinds = set(args.kinds.split(","))

    world = SandboxConfig(
        seed=7,
        accounts=3,
        campaigns=3,
        adsets_per_campaign=2,
        ads_per_adset=3,
        days=20,
        tier="standard",
    )
    admin = libpq_url(normalize_url(args.database_url))
    name = f"metricx_load_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = normalize_url(args.database_url.rsplit("/", 1)[0] + "/" + name)
    procs: list[subprocess.Popen[bytes]] = []  # the server first, then the worker
    sandbox: subprocess.Popen[bytes] | None = None
    try:
        # Meta is played by a sandbox process of its own: in a thread of this one, its work held
        # the interpreter the clients time their requests with.
        sandbox_port = free_port()
        sandbox = subprocess.Popen(
            [
                str(BIN), "sandbox", "--port", str(sandbox_port), "--seed", str(world.seed),
                "--accounts", str(world.accounts), "--campaigns", str(world.campaigns),
                "--adsets-per-campaign", str(world.adsets_per_campaign),
                "--ads-per-adset", str(world.ads_per_adset), "--days", str(world.days),
                "--tier", world.tier, "--app-id", world.app_id, "--app-secret", world.app_secret,
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        wait_http(f"{sandbox_url}/_sandbox")
        engine = create_engine(db_url)
        upgrade(engine)
        engine.dispose()
        key_csv = Cipher.generate_key()
        env = {
            **os.environ,
            "METRICX_DATABASE_URL": db_url,
            "METRICX_ENCRYPTION_KEYS": key_csv,
            "METRICX_SECRET_KEY": secrets.token_hex(16),
            "METRICX_META_APP_ID": world.app_id,
            "METRICX_META_APP_SECRET": world.app_secret,
            "METRICX_META_GRAPH_URL": sandbox_url,
            "METRICX_SYNC_BACKFILL_DAYS": "3",
            "METRICX_LOG_LEVEL": "WARNING",
            "METRICX_DATA_DIR": f"/tmp/{name}",
        }
        eng = make_engine(db_url)
        from metricx.config import Settings

        settings = Settings(
            database_url=db_url,
            encryption_keys=key_csv,  # type: ignore[arg-type]
            secret_key=env["METRICX_SECRET_KEY"],  # type: ignore[arg-type]
            meta_app_id=world.app_id,
            meta_app_secret=world.app_secret,  # type: ignore[arg-type]
            meta_graph_url=sandbox_url,
        )
        runtime = Runtime(
            settings=settings,
            database_url=db_url,
            engine=eng,
            sessions=make_sessionmaker(eng),
            cipher=Cipher.from_csv(key_csv),
            secret_key=env["METRICX_SECRET_KEY"],
        )
        token = httpx.post(f"{sandbox_url}/_sandbox/token", json={}).json()["token"]
        with unit_of_work(runtime.sessions) as session:
            user = create_user(session, email="load@example.com", password=secrets.token_hex(8))
            ws = create_workspace(session, name="load", owner_id=user.id, timezone="UTC")
            key = create_api_key(session, workspace_id=ws.id).key
            rows = add_with_token(
                session,
                settings=settings,
                cipher=runtime.cipher,
                workspace_id=ws.id,
                access_token=token,
                accounts=None,
                created_by=None,
            )
            ws_id, connections = ws.id, [str(r.id) for r in rows]
        eng.dispose()

        port = free_port()
        for command in (["serve", "--port", str(port)], ["worker", "--concurrency", "2"]):
            procs.append(subprocess.Popen([str(BIN), *command], env=env, start_new_session=True))
        wait_http(f"http://127.0.0.1:{port}/healthz")
        base = f"http://127.0.0.1:{port}/api/v1/workspaces/{ws_id}"
        tally = Tally()
        rss = RssWatch(procs[0].pid)

        async def run() -> None:
            limits = httpx.Limits(max_connections=4 * args.clients + 4)
            async with httpx.AsyncClient(
                headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=limits
            ) as http:
                if args.prefill:  # facts to ask about, written before the timed load
                    until = time.perf_counter() + args.prefill
                    await asyncio.gather(
                        *(
                            client_loop("ingest", http, base, until, Tally(), n=-n, batch=500)
                            for n in range(1, args.clients + 1)
                        )
                    )
                deadline = time.perf_counter() + args.seconds
                loops = [
                    client_loop(
                        op,
                        http,
                        base,
                        deadline,
                        tally,
                        n=n,
                        batch=args.batch,
                        connections=connections,
                        series=args.series,
                    )
                    for op in ("ingest", "query", "latest")
                    if op in kinds
                    for n in range(args.clients)
                ]
                if "sync" in kinds:
                    loops.append(
                        client_loop(
                            "sync", http, base, deadline, tally, n=0, connections=connections
                        )
                    )
                await asyncio.gather(rss.watch(deadline), *loops)

        started = time.perf_counter()
        asyncio.run(run())
        wall = time.perf_counter() - started
        time.sleep(args.settle)
        rss.end = rss_mib(procs[0].pid)
    finally:
        started_procs = [*procs, *([sandbox] if sandbox is not None else [])]
        for proc in started_procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in started_procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if args.keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(
        f"load: {wall:.0f} s, {args.clients} clients per kind, ingest batches of {args.batch}, "
        f"per-entity questions with series={args.series}"
    )
    print(f"{'operation':<10}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}  statuses")
    server_errors = 0
    unexpected = 0
    for op in ("ingest", "query", "latest", "sync"):
        lat = tally.latencies[op]
        statuses = dict(sorted(tally.statuses[op].items()))
        server_errors += sum(n for s, n in statuses.items() if s >= 500)
        unexpected += sum(n for s, n in statuses.items() if s not in EXPECTED[op])
        print(
            f"{op:<10}{len(lat):>8}{pct(lat, 50):>10.1f}{pct(lat, 95):>10.1f}"
            f"{pct(lat, 99):>10.1f}  {statuses}"
        )
    for shape, lat in sorted(tally.shapes.items()):
        print(
            f"  query {shape:<18}{len(lat):>6}{pct(lat, 50):>10.1f}{pct(lat, 95):>10.1f}"
            f"{pct(lat, 99):>10.1f}"
        )
    ingested = tally.statuses["ingest"].get(200, 0) * args.batch
    print(f"records ingested: {ingested} ({ingested / wall:.0f}/s)")
    if tally.latencies["query"]:
        print(f"query mean {statistics.mean(tally.latencies['query']):.1f} ms")
    for failure in tally.failures:
        print("  !", failure)
    print(
        f"server RSS MiB: start {rss.start:.0f}, peak {rss.peak:.0f}, "
        f"end {rss.end:.0f} ({args.settle:.0f} s after the load)"
    )
    print(f"5xx: {server_errors}, unexpected answers: {unexpected}")
    if server_errors or unexpected:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
