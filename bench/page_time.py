"""The dashboard in Chromium over a big workspace: time to first paint and to data (the table's
rows and the chart on screen), cold and warm, and the bytes it took.

    .venv/bin/python bench/page_time.py --database-url postgresql://.../metricx_qbench_xxxx
        [--metricx .venv/bin/metricx] [--runs 10] [--days 30] [--level campaign]

Runs against a database `bench/query.py --keep` left (2,000 ads x 24 h x N days, 3 accounts):
starts `metricx serve` on it (``--metricx`` may be another checkout's, for a before/after),
adds a member to its workspace, signs in through the form and opens the dashboard for the last
``--days`` days of the data at ``--level``, RUNS times in a fresh browser context each (cold:
empty cache) and RUNS times in one context (warm). Prints p50/p95 of first contentful paint
and of data on screen (navigation start to the table's rows and the chart's canvas), and the
page's transfer size. Chromium is Debian's (`make browser`)."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select

from metricx.auth.service import create_user
from metricx.db import make_engine, make_sessionmaker, unit_of_work
from metricx.migrate import upgrade
from metricx.models import Connection, ConnectionStatus, Provider, Role, Workspace
from metricx.sandbox.server import free_port
from metricx.workspaces.service import add_member

HERE = Path(sys.executable).parent / "metricx"
CHROMIUM = "/usr/bin/chromium"
END = date(2026, 11, 1)  # bench/query.py's last day (exclusive)
PASSWORD = "a long bench passphrase"


def serve(metricx: str, url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "METRICX_DATABASE_URL": url,
        "METRICX_DATA_DIR": str(data_dir),
        "METRICX_SECURE_COOKIES": "false",
        "METRICX_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [metricx, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("metricx serve did not start")


def member(url: str) -> tuple[str, str]:
    """A new user, a member of the bench's workspace: (e-mail, workspace id)."""
    engine = make_engine(url)
    upgrade(engine)  # the bench database may predate this checkout's migrations
    with unit_of_work(make_sessionmaker(engine)) as s:
        ws = s.scalars(select(Workspace).order_by(Workspace.created_at)).first()
        if ws is None:
            raise SystemExit("no workspace: run bench/query.py --keep first")
        email = f"bench-{secrets.token_hex(4)}@example.com"
        user = create_user(s, email=email, password=PASSWORD)
        add_member(s, workspace_id=ws.id, user_id=user.id, role=Role.MEMBER)
        if not s.scalars(select(Connection).where(Connection.workspace_id == ws.id)).first():
            # An account connected (the bench pushed its facts through the ingest service):
            # checkouts before the dashboard showed ingest-only workspaces need one.
            s.add(
                Connection(
                    workspace_id=ws.id,
                    provider=Provider.META,
                    external_account_id="act_bench",
                    name="Bench account",
                    currency="USD",
                    timezone="UTC",
                    status=ConnectionStatus.ACTIVE,
                )
            )
        found = str(ws.id)
    engine.dispose()
    return email, found


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url("**/w/**")


def timings(page: Page, url: str) -> tuple[float, float, int]:
    """(first contentful paint, data on screen, bytes transferred) of one load, in ms."""
    page.goto(url, wait_until="commit")
    page.wait_for_selector("#breakdown tbody tr[data-entity]", timeout=120_000)
    page.wait_for_selector("#chart canvas", timeout=120_000)
    data = page.evaluate("performance.now()")
    page.wait_for_load_state("load")
    paint: float = page.evaluate(
        "(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || NaN"
    )
    size: int = page.evaluate(
        "performance.getEntriesByType('navigation').concat(performance.getEntriesByType("
        "'resource')).reduce((n, e) => n + (e.transferSize || 0), 0)"
    )
    return paint, float(data), size


def percentiles(values: list[float]) -> str:
    ordered = sorted(v for v in values if v == v)  # no NaN: a load Chromium did not paint
    if not ordered:
        return f"{'-':>7} /{'-':>7}"
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):7.0f} /{p95:7.0f}"


def measure(browser: Browser, base: str, email: str, url: str, runs: int) -> dict[str, Any]:
    cold: list[tuple[float, float, int]] = []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        sign_in(page, base, email)
        cold.append(timings(page, url))
        context.close()
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in(page, base, email)
    timings(page, url)
    warm = [timings(page, url) for _ in range(runs)]
    context.close()
    return {"cold": cold, "warm": warm}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--database-url", required=True)
    p.add_argument("--metricx", default=str(HERE))
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--level", default="campaign", choices=("campaign", "adset", "ad"))
    args = p.parse_args()
    data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"metricx-pagetime-{secrets.token_hex(3)}"
    data_dir.mkdir()
    email, ws = member(args.database_url)
    proc, base = serve(args.metricx, args.database_url, data_dir)
    start, end = END - timedelta(days=args.days), END - timedelta(days=1)
    url = (
        f"{base}/w/{ws}?range=custom&start={start}&end={end}&granularity=day"
        f"&level={args.level}&tz=UTC"
    )
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            found = measure(browser, base, email, url, args.runs)
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    print(f"dashboard, {args.days} days by {args.level}, {args.runs} runs ({args.metricx})")
    print(f"{'':6} {'first paint p50/p95':>22} {'data on screen p50/p95':>24} {'bytes':>10}")
    for kind in ("cold", "warm"):
        rows = found[kind]
        size = statistics.median(r[2] for r in rows)
        print(
            f"{kind:6} {percentiles([r[0] for r in rows]):>22} ms"
            f" {percentiles([r[1] for r in rows]):>21} ms {size:>10,.0f}"
        )


if __name__ == "__main__":
    main()
