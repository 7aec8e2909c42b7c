"""The operator's rates: `metricx fx load` (all or nothing, bad lines by number) and the
periodic fetch of METRICX_FX_URL, run by a real worker against a local HTTP server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from metricx.fx.tasks import refresh_rates
from metricx.jobs.context import set_runtime
from metricx.migrate import upgrade
from metricx.runtime import build_runtime
from metricx.worker.queue import build_queue
from tests.conftest import make_settings
from tests.fx.test_formats import ECB_XML
from tests.test_cli import base_env, run, run_json


def _rates(url: str) -> list[tuple[str, str, str, str]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT day::text, currency, rate::text, source FROM fx_rates"
                " WHERE workspace_id IS NULL ORDER BY 1, 2"
            )
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_fx_load_stores_a_good_file_and_nothing_of_a_bad_one(
    tmp_path: Path, fresh_database
) -> None:  # type: ignore[no-untyped-def]
    env = base_env(tmp_path)
    url = fresh_database("fx_cli")
    env["METRICX_DATABASE_URL"] = url
    run_json(env, "db", "upgrade")
    good = tmp_path / "eurofxref.csv"
    good.write_text("Date, USD, JPY, \n02 December 2026, 1.0512, 161.23, \n")
    out = run_json(env, "fx", "load", str(good))
    assert out == {
        "rates": 2,
        "changed": 2,
        "first_day": "2026-12-02",
        "last_day": "2026-12-02",
        "currencies": ["JPY", "USD"],
    }
    bad = tmp_path / "rates.csv"
    bad.write_text(
        "date,currency,rate\n2026-12-03,USD,1.06\n2026-12-03,JPY,zero\nnot a date,USD,1\n"
    )
    proc = run(env, "fx", "load", str(bad), ok=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "nothing stored" in proc.stderr
    assert "line 3: rate 'zero' is not a number" in proc.stderr
    assert "line 4: date 'not a date'" in proc.stderr
    proc = run(env, "fx", "load", str(bad), "--json", ok=False)
    assert json.loads(proc.stderr)["error"]["code"] == "invalid_input"
    missing = run(env, "fx", "load", str(tmp_path / "none.csv"), ok=False)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    layout = tmp_path / "other.csv"
    layout.write_text("day;usd\n")
    assert "line 1" in run(env, "fx", "load", str(layout), ok=False).stderr
    assert _rates(url) == [
        ("2026-12-02", "JPY", "161.23", "file"),
        ("2026-12-02", "USD", "1.0512", "file"),
    ]
    assert "METRICX_FX_URL" in run(env, "fx", "fetch", ok=False).stderr


@pytest.fixture
def feed() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server answering the ECB's XML at /daily.xml (and 404 elsewhere); the
    list records the paths asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = ECB_XML.encode() if self.path == "/daily.xml" else b"no"
            self.send_response(200 if self.path == "/daily.xml" else 404)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def test_worker_fetches_the_configured_feed(fresh_database, tmp_path: Path, feed) -> None:  # type: ignore[no-untyped-def]
    base, asked = feed
    url = fresh_database("fx_fetch")
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = make_settings(tmp_path, url).model_copy(update={"fx_url": f"{base}/daily.xml"})
    runtime = build_runtime(settings)
    set_runtime(runtime)
    queue = build_queue(url)

    async def work() -> None:
        async with queue.open_async():
            await queue.configure_task("fetch_exchange_rates").defer_async(timestamp=0)
            await queue.run_worker_async(wait=False, install_signal_handlers=False)

    worker = threading.Thread(target=lambda: asyncio.run(work()))
    worker.start()
    worker.join(timeout=60)
    assert asked and set(asked) == {"/daily.xml"}  # the worker may have run a periodic one too
    engine = create_engine(url)
    with engine.connect() as conn:
        status = conn.execute(
            text(
                "SELECT status FROM procrastinate_jobs WHERE task_name = 'fetch_exchange_rates'"
                " AND (args->>'timestamp')::bigint = 0"
            )
        ).scalar_one()
    engine.dispose()
    assert status == "succeeded"
    assert _rates(url) == [
        ("2026-12-01", "USD", "1.0498", "fetch"),
        ("2026-12-02", "JPY", "161.23", "fetch"),
        ("2026-12-02", "USD", "1.0512", "fetch"),
    ]
    # A feed that fails stores nothing and says why; no URL: nothing fetched.
    broken = runtime.settings.model_copy(update={"fx_url": f"{base}/gone.xml"})
    out = refresh_rates(dataclasses.replace(runtime, settings=broken))
    assert out["fetched"] is False and "404" in out["reason"]
    unset = runtime.settings.model_copy(update={"fx_url": None})
    assert refresh_rates(dataclasses.replace(runtime, settings=unset))["fetched"] is False
    assert len(_rates(url)) == 3
    runtime.dispose()


def test_the_fetch_is_scheduled_hourly() -> None:
    queue = build_queue("postgresql://unused@localhost/unused")
    periodic = {t.task.name: t.cron for t in queue.periodic_registry.periodic_tasks.values()}
    assert periodic["fetch_exchange_rates"] == "11 * * * *"


def test_carry_forward_fills_weekends_and_a_published_rate_replaces_it(
    tmp_path: Path, fresh_database
) -> None:  # type: ignore[no-untyped-def]
    """`--carry-forward 2`: Friday's rate for Saturday and Sunday (the ECB publishes none),
    marked as carried; Monday's own rate stays; a rate published later for a carried day
    replaces it, and a carried rate never replaces a published one."""
    env = base_env(tmp_path)
    url = fresh_database("fx_carry")
    env["METRICX_DATABASE_URL"] = url
    run_json(env, "db", "upgrade")
    week = tmp_path / "week.csv"
    week.write_text("date,currency,rate\n2026-11-27,USD,1.04\n2026-11-30,USD,1.05\n")
    out = run_json(env, "fx", "load", "--carry-forward", "2", str(week))
    assert out["rates"] == 2 and out["changed"] == 6
    assert _rates(url) == [
        ("2026-11-27", "USD", "1.04", "file"),
        ("2026-11-28", "USD", "1.04", "file (carried from 2026-11-27)"),
        ("2026-11-29", "USD", "1.04", "file (carried from 2026-11-27)"),
        ("2026-11-30", "USD", "1.05", "file"),
        # After the last published day too (up to today), until those days get their own.
        ("2026-12-01", "USD", "1.05", "file (carried from 2026-11-30)"),
        ("2026-12-02", "USD", "1.05", "file (carried from 2026-11-30)"),
    ]
    late = tmp_path / "late.csv"
    late.write_text("date,currency,rate\n2026-11-28,USD,1.041\n2026-11-26,USD,1.03\n")
    run_json(env, "fx", "load", "--carry-forward", "2", str(late))
    rows = _rates(url)
    assert ("2026-11-28", "USD", "1.041", "file") in rows  # published: replaces the carried
    assert ("2026-11-27", "USD", "1.04", "file") in rows  # carried from the 26th: not over it
    assert ("2026-11-29", "USD", "1.04", "file (carried from 2026-11-27)") in rows
    bad = run(env, "fx", "load", "--carry-forward", "30", str(week), ok=False)
    assert bad.returncode != 0
