"""A database that takes the bytes and never answers (issue #20: PostgreSQL stopped by SIGSTOP
for 70 s, 6 of 25 API requests never answered). Its kernel still acknowledges, so neither TCP
keepalives nor its own statement timeouts help: the client's deadline does. Every request
answers 503 with Retry-After within the configured limits, and the app works again once the
database does. Frozen here by a proxy (``freezable_proxy``), not by stopping the server the
other tests share."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import procrastinate
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from metricx.app import create_app
from metricx.runtime import Runtime, build_runtime
from metricx.worker.queue import build_queue
from tests.conftest import make_settings
from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.ingest.helpers import fact, ingest_url
from tests.own_loop import run_in_own_loop
from tests.reliability.freezable_proxy import FreezableProxy
from tests.reliability.test_database_outage import PAGE_HEADERS, assert_unavailable

REQUEST_TIMEOUT = 3.0  # roomy: a loaded machine must not fail the warm-up
GRACE = 0.5
CONNECT_TIMEOUT = 2  # libpq's shortest
POOL_TIMEOUT = 1.0
# The longest a request may take: its deadline and the grace (the pool's ping, then the
# request's own work), a reconnect that cannot finish, a wait for a free connection, and a
# margin for a loaded machine.
LIMIT = 2 * (REQUEST_TIMEOUT + GRACE) + CONNECT_TIMEOUT + POOL_TIMEOUT + 3.0
CONCURRENT = 12


@pytest.fixture
def proxy(database_url: str) -> Iterator[FreezableProxy]:
    p = FreezableProxy(database_url)
    yield p
    p.close()


@pytest.fixture
def keyed(engine: Engine) -> KeyedWorkspace:
    """A workspace and key committed, for the app that connects through the proxy."""
    with Session(engine, expire_on_commit=False) as session:
        ws = make_keyed_workspace(session)
        session.commit()
    return ws


@pytest.fixture
def frozen_app(tmp_path: Path, proxy: FreezableProxy) -> Iterator[tuple[Runtime, TestClient]]:
    settings = make_settings(tmp_path, proxy.url).model_copy(
        update={
            "request_timeout_seconds": REQUEST_TIMEOUT,
            "db_client_grace_seconds": GRACE,
            "db_connect_timeout_seconds": CONNECT_TIMEOUT,
            "db_pool_timeout_seconds": POOL_TIMEOUT,
            "db_pool_size": 4,
            "db_max_overflow": 4,
        }
    )
    runtime = build_runtime(settings)
    with TestClient(
        create_app(runtime), base_url="https://testserver", raise_server_exceptions=False
    ) as client:
        yield runtime, client
    runtime.dispose()


class Call(threading.Thread):
    def __init__(self, client: TestClient, method: str, path: str, **kwargs: object) -> None:
        super().__init__(daemon=True)
        self.client, self.method, self.path, self.kwargs = client, method, path, kwargs
        self.answer: httpx.Response | None = None
        self.took = 0.0

    def run(self) -> None:
        started = time.monotonic()
        self.answer = self.client.request(self.method, self.path, **self.kwargs)  # type: ignore[arg-type]
        self.took = time.monotonic() - started


def calls(client: TestClient, ws: KeyedWorkspace) -> list[Call]:
    """API reads, ingests and pages, as many as CONCURRENT."""
    body = {"records": [fact("ad-1")]}
    made: list[Call] = []
    for i in range(CONCURRENT):
        if i % 3 == 0:
            made.append(
                Call(client, "GET", f"/api/v1/workspaces/{ws.workspace.id}", headers=ws.headers)
            )
        elif i % 3 == 1:
            made.append(
                Call(client, "POST", ingest_url(ws.workspace.id), json=body, headers=ws.headers)
            )
        else:
            made.append(Call(client, "GET", "/", headers=PAGE_HEADERS))
    return made


def test_requests_answer_503_within_the_limit_while_the_database_is_frozen(
    frozen_app: tuple[Runtime, TestClient], proxy: FreezableProxy, keyed: KeyedWorkspace
) -> None:
    _, client = frozen_app
    workspace = f"/api/v1/workspaces/{keyed.workspace.id}"
    # Warm: the pool holds open connections, which the freeze will leave hanging.
    for call in calls(client, keyed)[:3]:
        call.run()
        assert call.answer is not None and call.answer.status_code in (200, 303)

    proxy.freeze()
    try:
        frozen = calls(client, keyed)
        for call in frozen:
            call.start()
        for call in frozen:
            call.join(LIMIT)  # waits for the answer; the bound only stops a hang
            assert not call.is_alive(), f"{call.method} {call.path} still waits on the database"
    finally:
        proxy.thaw()  # a request still hung (a failure) then ends, and so can the test
    for call in frozen:
        assert call.answer is not None
        assert_unavailable(call.answer, page=call.path == "/")
        assert call.took < LIMIT

    # The connections cut during the freeze are dropped; new ones work.
    again = client.get(workspace, headers=keyed.headers)
    assert again.status_code == 200, again.text
    stored = client.post(
        ingest_url(keyed.workspace.id), json={"records": [fact("ad-2")]}, headers=keyed.headers
    )
    assert stored.status_code == 200 and stored.json()["inserted"] == 1


def test_the_worker_queue_fails_its_calls_instead_of_hanging_while_frozen(
    tmp_path: Path, proxy: FreezableProxy
) -> None:
    """Procrastinate's own statements (fetching and finishing jobs) give up after the
    statement timeout plus the grace; the pool drops the connection and the next call, once
    the database answers again, works."""
    settings = make_settings(tmp_path, proxy.url).model_copy(
        update={
            "db_statement_timeout_ms": 1000,
            "db_client_grace_seconds": GRACE,
            "db_connect_timeout_seconds": CONNECT_TIMEOUT,
            "db_pool_timeout_seconds": POOL_TIMEOUT,
        }
    )
    queue = build_queue(proxy.url, settings)

    async def scenario() -> float:
        async with queue.open_async():
            connector = queue.connector
            one = "SELECT 1 AS one"
            assert await connector.execute_query_one_async(one) == {"one": 1}
            proxy.freeze()
            started = time.monotonic()
            try:
                with pytest.raises(procrastinate.exceptions.ConnectorException):
                    await connector.execute_query_one_async(one)
            finally:
                took = time.monotonic() - started
                proxy.thaw()
            assert await connector.execute_query_one_async(one) == {"one": 1}
            return took

    took = run_in_own_loop(scenario(), timeout=60)
    # The pool's check of a connection, then its wait for a new one, then a margin.
    assert took < 1.0 + GRACE + POOL_TIMEOUT + 3.0
