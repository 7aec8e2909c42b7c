"""Metrics sync tests: a small sandbox (4 accounts: Los Angeles with its DST change, Berlin,
UTC, Kolkata +05:30) frozen at the current hour, and a committed database (the runner gives
every chunk its own transaction, as in production)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection as DbConnection
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.connections.service import add_with_token
from metricx.db import make_engine, unit_of_work
from metricx.integrations.meta.client import MetaAdsClient
from metricx.kit.crypto import Secret
from metricx.migrate import upgrade
from metricx.models import Connection
from metricx.runtime import Runtime, build_runtime
from metricx.sandbox.config import SandboxConfig
from tests.factories import make_workspace
from tests.meta_sandbox import MetaSandbox, sandbox_fixture


def _now() -> datetime:
    """The sandbox's frozen clock: 40 minutes past the last hour, so the numbers depend on the
    hour the suite runs; METRICX_TEST_SANDBOX_NOW (ISO 8601, UTC) replays a given hour."""
    fixed = os.environ.get("METRICX_TEST_SANDBOX_NOW")
    if fixed:
        return datetime.fromisoformat(fixed).astimezone(UTC)
    return datetime.now(UTC).replace(minute=40, second=0, microsecond=0) - timedelta(hours=1)


NOW = _now()


def small_config() -> SandboxConfig:
    return SandboxConfig(
        seed=606,
        accounts=4,
        campaigns=5,
        adsets_per_campaign=2,
        ads_per_adset=2,
        days=40,  # reaches back past the last DST change in Los Angeles and Berlin
        tier="standard",
        clock=NOW,
        frozen_clock=True,
    )


@pytest.fixture(scope="session")
def sync_sandbox() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(small_config())


@pytest.fixture(scope="session")
def sync_database(fresh_database: Callable[[str], str]) -> Iterator[str]:
    url = fresh_database("sync")
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url


@pytest.fixture(scope="session")
def sync_engine(sync_database: str) -> Iterator[Engine]:
    engine = make_engine(sync_database)
    yield engine
    engine.dispose()


@pytest.fixture
def sync_settings(sync_sandbox: MetaSandbox, tmp_path: Path, sync_database: str) -> Settings:
    return sync_sandbox.settings(
        tmp_path,
        sync_database,
        sync_retry_base_seconds=0.01,
        sync_retry_max_seconds=0.05,
        sync_async_min_rows=2000,  # exercise report jobs on the small world too
    )


@pytest.fixture
def sync_runtime(sync_settings: Settings, sync_engine: Engine) -> Iterator[Runtime]:
    yield build_runtime(sync_settings, engine=sync_engine)


@pytest.fixture(autouse=True)
def _restore_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sync_sandbox" in request.fixturenames:
        box: MetaSandbox = request.getfixturevalue("sync_sandbox")
        box.http.delete("/_sandbox/faults")
        box.http.post("/_sandbox/clock", json={"now": NOW.isoformat()})
        box.tier("standard")


def connect_account(runtime: Runtime, box: MetaSandbox, index: int) -> Connection:
    """A new workspace with sandbox account ``index`` connected (committed)."""
    with unit_of_work(runtime.sessions) as session:
        ws = make_workspace(session)
        [row] = add_with_token(
            session,
            settings=runtime.settings,
            cipher=runtime.cipher,
            workspace_id=ws.id,
            access_token=box.token(),
            accounts=[box.accounts()[index]],
            created_by=None,
        )
        session.flush()
        session.expunge(row)
        return row


def sandbox_clients(box: MetaSandbox) -> Callable[[Settings, Secret], MetaAdsClient]:
    """Clients whose waits move the sandbox clock instead of sleeping."""

    def factory(settings: Settings, token: Secret) -> MetaAdsClient:
        return MetaAdsClient.from_settings(settings, token, sleep=box.advance)

    return factory


def session_of(runtime: Runtime) -> Session:
    return runtime.sessions()


_SYNC_JOBS = (
    "FROM procrastinate_jobs WHERE task_name = 'run_metrics_sync' AND args->>'fetch_id' = :f"
)


def sync_jobs(db: Session | DbConnection, fetch_id: object) -> list[str]:
    """The statuses of a fetch's run jobs, oldest first."""
    sql = text(f"SELECT status {_SYNC_JOBS} ORDER BY id")
    return [str(s) for s in db.execute(sql, {"f": str(fetch_id)}).scalars()]


def set_sync_jobs(db: DbConnection, fetch_id: object, assignments: str, **params: Any) -> list[int]:
    """Change a fetch's run jobs (``assignments``: an UPDATE's SET list); their ids."""
    sql = text(
        f"UPDATE procrastinate_jobs SET {assignments} WHERE id IN (SELECT id {_SYNC_JOBS})"
        " RETURNING id"
    )
    return [int(i) for i in db.execute(sql, {**params, "f": str(fetch_id)}).scalars()]
