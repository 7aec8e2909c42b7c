"""A database that is gone, slow or out of connections: requests answer 503 with Retry-After
(the JSON envelope for the API, a short page for a browser), within the configured timeouts,
never 500 and never a hang; and they work again once the database does. Real PostgreSQL: a
port nobody listens on, a table lock held by another connection, a pool held empty."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from structlog.testing import capture_logs

from metricx.app import create_app
from metricx.auth.cookies import SESSION_COOKIE
from metricx.db import libpq_url, request_budget
from metricx.runtime import Runtime, build_runtime
from tests.conftest import make_settings
from tests.reliability.scenarios import wait_for

UNKNOWN_KEY = "Bearer mx_notakey_0123456789abcdef0123456789abcdef"
PAGE_HEADERS = {"accept": "text/html", "cookie": f"__Host-{SESSION_COOKIE}=not-a-session"}
BOUND = 10.0  # seconds: generous next to the 1-2 s timeouts these tests configure


def runtime_with(tmp_path: Path, url: str, **settings: Any) -> Runtime:
    return build_runtime(make_settings(tmp_path, url).model_copy(update=settings))


@pytest.fixture
def client_for() -> Iterator[Any]:
    made: list[tuple[Runtime, TestClient]] = []

    def make(runtime: Runtime) -> TestClient:
        client = TestClient(
            create_app(runtime), base_url="https://testserver", raise_server_exceptions=False
        )
        client.__enter__()
        made.append((runtime, client))
        return client

    yield make
    for runtime, client in made:
        client.__exit__(None, None, None)
        runtime.dispose()


def assert_unavailable(answer: httpx.Response, *, page: bool = False) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0
    assert "select" not in answer.text.lower()  # no SQL in the answer
    if page:
        assert answer.headers["content-type"].startswith("text/html")
        assert "Temporarily unavailable" in answer.text
    else:
        assert answer.json()["error"]["code"] == "database_unavailable"


def timed_get(client: TestClient, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = client.get(path, **kwargs)
    return answer, time.monotonic() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_server_listening_answers_503_quickly(tmp_path: Path, client_for: Any) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/metricx"
    client = client_for(runtime_with(tmp_path, url, db_connect_timeout_seconds=2))

    answer, took = timed_get(client, "/api/v1/workspaces", headers={"authorization": UNKNOWN_KEY})
    assert_unavailable(answer)
    assert "unavailable" in answer.json()["error"]["message"]
    assert took < BOUND

    page, took = timed_get(client, "/", headers=PAGE_HEADERS)
    assert_unavailable(page, page=True)
    assert took < BOUND


class Request(threading.Thread):
    """A GET in a thread, so the test can watch the database while the request waits."""

    def __init__(self, client: TestClient, path: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.client, self.path, self.headers = client, path, headers
        self.answer: httpx.Response | None = None
        self.took = 0.0

    def run(self) -> None:
        self.answer, self.took = timed_get(self.client, self.path, headers=self.headers)


def waiting_on(admin: psycopg.Connection[Any], table: str) -> bool:
    """Someone waits for a lock on ``table`` (the request, blocked by the test's lock)."""
    row = admin.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
        (table,),
    ).fetchone()
    return bool(row and row[0])


def run_blocked_request(
    client: TestClient, database_url: str, table: str, *, kill: bool = False
) -> Request:
    """Hold ``table`` locked while a request that reads it runs; return it finished (the lock
    released only after the request answered). ``kill``: once the request is seen waiting,
    its server process is terminated (the connection lost mid-request)."""
    dsn = libpq_url(database_url)
    with psycopg.connect(dsn) as locker, psycopg.connect(dsn, autocommit=True) as admin:
        locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        request = Request(client, "/api/v1/workspaces", {"authorization": UNKNOWN_KEY})
        request.start()
        if kill:
            wait_for(lambda: waiting_on(admin, table), BOUND, every=0.02)
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE NOT granted AND relation = %s::regclass",
                (table,),
            )
        # The request is seen blocked on the lock, or has already answered (a slow machine).
        wait_for(lambda: waiting_on(admin, table) or not request.is_alive(), BOUND, every=0.02)
        request.join(BOUND)
        assert not request.is_alive(), "the request still waits on the database"
        locker.rollback()
    return request


def test_statement_timeout_answers_503_then_recovers(
    tmp_path: Path, database_url: str, client_for: Any
) -> None:
    client = client_for(runtime_with(tmp_path, database_url, db_statement_timeout_ms=1000))
    with capture_logs() as logs:
        request = run_blocked_request(client, database_url, "api_keys")
    assert request.answer is not None
    # The log says what failed, never the statement (nor, so, any value in it).
    (line,) = [e for e in logs if e["event"] == "database unavailable"]
    assert line["error"] == "QueryCanceled" and line["sqlstate"] == "57014"
    assert "select" not in repr(logs).lower()
    assert_unavailable(request.answer)
    assert "too long" in request.answer.json()["error"]["message"]
    assert request.took < BOUND
    # The lock is gone: the same request reaches the database again (an unknown key: 401).
    again = client.get("/api/v1/workspaces", headers={"authorization": UNKNOWN_KEY})
    assert again.status_code == 401, again.text


def test_request_deadline_cuts_a_longer_statement_timeout(
    tmp_path: Path, database_url: str, client_for: Any
) -> None:
    """The statement timeout (60 s) is cut to what is left of the request's 1 s."""
    runtime = runtime_with(
        tmp_path, database_url, db_statement_timeout_ms=60_000, request_timeout_seconds=1.0
    )
    client = client_for(runtime)
    request = run_blocked_request(client, database_url, "api_keys")
    assert request.answer is not None
    assert_unavailable(request.answer)
    assert request.took < BOUND
    again = client.get("/api/v1/workspaces", headers={"authorization": UNKNOWN_KEY})
    assert again.status_code == 401, again.text


def test_connection_lost_mid_request_answers_503_then_recovers(
    tmp_path: Path, database_url: str, client_for: Any
) -> None:
    runtime = runtime_with(tmp_path, database_url, db_pool_size=1, db_max_overflow=0)
    client = client_for(runtime)
    request = run_blocked_request(client, database_url, "api_keys", kill=True)
    assert request.answer is not None
    assert_unavailable(request.answer)
    # The pool's only connection was the lost one: it is replaced.
    again = client.get("/api/v1/workspaces", headers={"authorization": UNKNOWN_KEY})
    assert again.status_code == 401, again.text


def test_pool_exhausted_answers_503_after_pool_timeout(
    tmp_path: Path, database_url: str, client_for: Any
) -> None:
    runtime = runtime_with(
        tmp_path, database_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=1.0
    )
    client = client_for(runtime)
    with runtime.engine.connect() as held:  # the pool's only connection
        assert held.exec_driver_sql("SELECT 1").scalar() == 1
        answer, took = timed_get(
            client, "/api/v1/workspaces", headers={"authorization": UNKNOWN_KEY}
        )
        assert_unavailable(answer)
        assert "busy" in answer.json()["error"]["message"]
        assert 1.0 <= took < BOUND  # it waited for a connection, then gave up
        page, _ = timed_get(client, "/", headers=PAGE_HEADERS)
        assert_unavailable(page, page=True)
    again = client.get("/api/v1/workspaces", headers={"authorization": UNKNOWN_KEY})
    assert again.status_code == 401, again.text


def test_request_timeouts_stay_inside_their_transaction(
    tmp_path: Path, database_url: str, client_for: Any
) -> None:
    """A request's SET LOCAL ends with its transaction: the pooled connection goes back with
    the background timeouts the engine opened it with."""
    runtime = runtime_with(
        tmp_path,
        database_url,
        db_pool_size=1,
        db_max_overflow=0,
        db_statement_timeout_ms=1234,
        db_background_statement_timeout_ms=567_000,
    )
    client = client_for(runtime)
    assert (
        client.get("/api/v1/workspaces", headers={"authorization": UNKNOWN_KEY}).status_code == 401
    )
    with runtime.engine.connect() as conn:  # the same, only, connection of the pool
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "567s"
        # What libpq was told: a connect timeout and TCP keepalives.
        libpq = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        assert libpq["connect_timeout"] == "5"
        assert libpq["keepalives"] == "1" and libpq["keepalives_idle"] == "30"


def test_a_failed_statement_in_a_savepoint_rolls_back_under_a_request_budget(
    tmp_path: Path, database_url: str
) -> None:
    """A request that catches an error inside a savepoint (a job another request queued
    first) goes on: the budget's SET LOCAL is not sent into the aborted transaction, where
    PostgreSQL accepts nothing but the ROLLBACK TO SAVEPOINT. Seen as a 500 under load."""
    runtime = runtime_with(tmp_path, database_url, db_statement_timeout_ms=4321)
    with request_budget(runtime.settings), runtime.sessions() as session:
        session.execute(text("CREATE TEMP TABLE once (k int PRIMARY KEY)"))
        session.execute(text("INSERT INTO once VALUES (1)"))
        with pytest.raises(IntegrityError), session.begin_nested():
            session.execute(text("INSERT INTO once VALUES (1)"))
        assert session.execute(text("SELECT count(*) FROM once")).scalar_one() == 1
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == "4321ms"
        session.rollback()
    runtime.engine.dispose()
