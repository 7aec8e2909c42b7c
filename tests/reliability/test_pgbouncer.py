"""The web tier through PgBouncer in transaction mode (Debian's ``pgbouncer``, started by the
test in front of the test database): sign-in, ingest, the query API and the dashboard work,
every transaction runs with metricx's session settings (UTC, no JIT, the timeouts) although
the server sessions are shared, and nothing metricx sets outlives its transaction. The worker
refuses such a URL, and `metricx doctor` says what needs a session of its own."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from metricx.app import create_app
from metricx.models import Level
from metricx.runtime import Runtime, build_runtime
from metricx.sandbox.server import free_port
from tests.conftest import make_settings
from tests.factories import join, make_keyed_workspace, make_user
from tests.metrics.test_query import entity, fact
from tests.web.test_pages import sign_in

PGBOUNCER = "/usr/sbin/pgbouncer"
RUN_AS = "postgres"  # PgBouncer refuses to run as root (the embedded server's user, for it)


@pytest.fixture(scope="module")
def bouncer(database_url: str) -> Iterator[str]:
    """PgBouncer in transaction mode in front of the test database: its URL."""
    if not Path(PGBOUNCER).exists():
        pytest.fail("no pgbouncer: `make test` installs it (apt-get install pgbouncer)")
    target = make_url(database_url)
    host, port_of_server = target.host or "127.0.0.1", target.port or 5432
    run_as = RUN_AS
    socket_dir = target.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):  # the embedded server
        host = socket_dir
        run_as = pwd.getpwuid(Path(socket_dir).stat().st_uid).pw_name  # may use its socket
        [socket] = Path(socket_dir).glob(".s.PGSQL.*[0-9]")
        port_of_server = int(socket.name.rsplit(".", 1)[1])
    folder = Path(tempfile.mkdtemp(prefix="metricx-pgbouncer-"))
    port = free_port()
    (folder / "users.txt").write_text(f'"{target.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"metricx = host={host} port={port_of_server}"
        f" dbname={target.database} user={target.username}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 100\n"
        f"logfile = {folder / 'pgbouncer.log'}\npidfile = {folder / 'pgbouncer.pid'}\n"
    )
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam(run_as)
        os.chmod(folder, 0o755)
        for path in (folder, *folder.iterdir()):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", run_as, "--"]
    proc = subprocess.Popen(
        [*as_user, PGBOUNCER, str(folder / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"postgresql://{target.username}@127.0.0.1:{port}/metricx"
    deadline = time.monotonic() + 20
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (folder / "pgbouncer.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"pgbouncer did not start: {log}")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pooled(bouncer: str, tmp_path: Path) -> Iterator[Runtime]:
    settings = make_settings(tmp_path, bouncer)
    settings.database_pooler = "transaction"
    runtime = build_runtime(settings)
    yield runtime
    runtime.dispose()


def test_the_web_tier_works_through_a_transaction_pooler(pooled: Runtime) -> None:
    with pooled.sessions.begin() as s:
        ws = make_keyed_workspace(s)
        ad = entity(s, ws, Level.AD)  # type: ignore[arg-type]
        user = make_user(s)
        join(s, ws.workspace, user)
    client = TestClient(create_app(pooled), base_url="https://testserver")
    at = datetime(2026, 5, 1, tzinfo=UTC)
    stored = client.post(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/ingest",
        json={"records": [fact(ad, at, "day", spend="12.34")]},
        headers=ws.headers,
    )
    assert stored.status_code in (200, 201) and stored.json()["inserted"] == 1, stored.text
    asked = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/query",
        params={"start": "2026-05-01", "end": "2026-05-01", "level": "workspace"},
        headers=ws.headers,
    )
    assert asked.status_code == 200 and asked.json()["totals"][0]["spend"] == "12.34"
    sign_in(client, user.email)
    day = {"range": "custom", "start": "2026-05-01", "end": "2026-05-01", "level": "ad"}
    page = client.get(f"/w/{ws.workspace.id}", params=day)
    assert page.status_code == 200 and 'data-value="12.34"' in page.text


def test_each_transaction_has_the_session_settings_and_leaves_none(
    pooled: Runtime, bouncer: str
) -> None:
    with pooled.engine.connect() as conn, conn.begin():
        got = conn.execute(text("SELECT current_setting('timezone'), current_setting('jit')")).one()
        assert tuple(got) == ("UTC", "off")
        timeout = conn.execute(
            text("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'")
        ).scalar_one()
        assert timeout == str(pooled.settings.db_background_statement_timeout_ms)
    # A plain client of the same pool, on the same server sessions: none of it stayed.
    with psycopg.connect(bouncer, autocommit=True) as other:
        for _ in range(4):  # default_pool_size = 2: every server session is seen
            row = other.execute("SHOW statement_timeout").fetchone()
            assert row is not None and row[0] == "0"


def test_the_worker_and_doctor_say_what_needs_a_session(bouncer: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "METRICX_DATABASE_URL": bouncer,
        "METRICX_DATABASE_POOLER": "transaction",
        "METRICX_DATA_DIR": str(tmp_path),
    }
    metricx = str(Path(sys.executable).parent / "metricx")
    worker = subprocess.run(
        [metricx, "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert worker.returncode != 0
    assert "the worker needs a database session of its own" in worker.stderr + worker.stdout
    doctor = subprocess.run(
        [metricx, "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert "METRICX_DATABASE_POOLER=transaction" in doctor.stdout
