"""Named test-data scenarios over the sandbox, shared by the reliability and security suites.

The sandbox world itself (tests/sync/conftest.small_config: 4 accounts in Los Angeles,
Berlin, UTC and Kolkata, campaigns whose ads are active, paused, ended and deleted) is the
base; a scenario adds what a test needs on top: connections with their own tokens, settled
backfill windows, a second provider pushed through the ingest API, duplicates, gaps and
hierarchy changes. Every loop here is bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from metricx.connections.service import add_with_token
from metricx.db import unit_of_work
from metricx.models import Connection, Fetch
from metricx.runtime import Runtime
from metricx.sync import service
from tests.factories import make_workspace
from tests.meta_sandbox import MetaSandbox

BIN = Path(sys.executable).parent / "metricx"
# Conversions mature over three days in the sandbox: a window ending before that is final,
# so the truth does not move while a chaotic run takes its time.
SETTLED_DAYS = 4


@dataclass
class Linked:
    """A sandbox account connected in its own workspace, with the token it was given."""

    connection: Connection
    token: str
    account: str


def sandbox_now(box: MetaSandbox) -> datetime:
    return datetime.fromisoformat(box.http.get("/_sandbox/clock").json()["now"])


def link_account(runtime: Runtime, box: MetaSandbox, index: int) -> Linked:
    token = box.token()
    account = box.accounts()[index % len(box.accounts())]
    with unit_of_work(runtime.sessions) as session:
        ws = make_workspace(session)
        [row] = add_with_token(
            session,
            settings=runtime.settings,
            cipher=runtime.cipher,
            workspace_id=ws.id,
            access_token=token,
            accounts=[account],
            created_by=None,
        )
        session.flush()
        session.expunge(row)
    return Linked(row, token, account)


def settled_window(box: MetaSandbox, connection: Connection, days: int) -> tuple[date, date]:
    today = service.local_today(connection, sandbox_now(box))
    until = today - timedelta(days=SETTLED_DAYS)
    return until - timedelta(days=days - 1), until


def request_backfill(
    runtime: Runtime, box: MetaSandbox, connection: Connection, since: date, until: date
) -> Fetch:
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        fetch = service.request_sync(
            session,
            settings=runtime.settings,
            connection=row,
            since=since,
            until=until,
            # real time, as the worker's: the entity refresh compares it with the last one
            now=datetime.now(UTC),
        )
        session.expunge(fetch)
        return fetch


def load_fetch(runtime: Runtime, fetch_id: object) -> Fetch:
    """The fetch row; a read cut by the chaos (a terminated session) is simply read again."""
    for attempt in range(5):
        try:
            with unit_of_work(runtime.sessions) as session:
                row = session.get(Fetch, fetch_id)
                assert row is not None
                session.expunge(row)
                return row
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def wait_for(check: Callable[[], bool], timeout: float, every: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def duplicate_facts(runtime: Runtime, connection_ids: list[Any]) -> int:
    """Facts stored twice for one entity, granularity and bucket (the natural key's job)."""
    with runtime.engine.connect() as db:
        return int(
            db.execute(
                text(
                    "SELECT count(*) FROM (SELECT f.entity_id, f.granularity, f.event_at"
                    " FROM metric_facts f JOIN entities e ON e.id = f.entity_id"
                    " WHERE e.connection_id = ANY(:ids)"
                    " GROUP BY 1, 2, 3 HAVING count(*) > 1) d"
                ),
                {"ids": connection_ids},
            ).scalar_one()
        )


class WorkerPool:
    """Real `metricx worker` processes on the test database, each in its own process group
    (so SIGKILL takes the whole worker), all stopped at the end."""

    def __init__(self, runtime: Runtime, log_dir: Path, **env: str) -> None:
        s = runtime.settings
        assert s.encryption_keys and s.secret_key and s.meta_app_secret
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "METRICX_DATABASE_URL": runtime.database_url,
            "METRICX_ENCRYPTION_KEYS": s.encryption_keys.get_secret_value(),
            "METRICX_SECRET_KEY": s.secret_key.get_secret_value(),
            "METRICX_META_APP_ID": s.meta_app_id or "",
            "METRICX_META_APP_SECRET": s.meta_app_secret.get_secret_value(),
            "METRICX_META_GRAPH_URL": s.meta_graph_url,
            "METRICX_DATA_DIR": str(log_dir / "data"),
            "METRICX_LOG_LEVEL": "WARNING",
            "METRICX_LOG_FORMAT": "json",
            **env,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, concurrency: int = 2) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115  (owned by the child)
        proc = subprocess.Popen(
            [str(BIN), "worker", "--concurrency", str(concurrency), "--name", name],
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_dir.glob("*.log"))
