"""Where dashboard and query reads go: a streaming read replica (``METRICX_DATABASE_READ_URL``)
while it is close enough behind the primary, else the primary.

Writes, the job queue and anything that must see its own write stay on the primary; only the
query layer's reads (metrics, the dashboard's answer) are routed here. The replica's lag is
measured against the primary's WAL position: a replica that has replayed everything the
primary wrote is 0 s behind however long the primary has been idle; one that has not is as
far behind as the time since it last replayed a transaction (unless it is streaming and has
replayed all it received: the rest is in flight). Past
``METRICX_DATABASE_READ_MAX_LAG_SECONDS`` (or when the replica does not answer) reads go to
the primary until it catches up; the lag is measured at most every few seconds per process."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from metricx.logging import get_logger

log = get_logger("metricx.replicas")
PRIMARY, REPLICA = "primary", "replica"
CHECK_EVERY_SECONDS = 2.0
_PRIMARY_LSN = text("SELECT pg_current_wal_lsn()::text")
_REPLICA_STATE = text(
    "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(CAST(:primary AS pg_lsn),"
    " coalesce(pg_last_wal_replay_lsn(), '0/0'::pg_lsn)),"
    " extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()),"
    " coalesce(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), false),"
    " EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')"
)


@dataclass
class ReadRoute:
    """The sessions query reads use: the replica's while its lag is under ``max_lag``."""

    primary: sessionmaker[Session]
    primary_engine: Engine
    replica: sessionmaker[Session] | None = None
    replica_engine: Engine | None = None
    max_lag: float = 30.0
    _lag: float | None = None
    _checked: float = -math.inf
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def configured(self) -> bool:
        return self.replica is not None

    def lag_seconds(self) -> float | None:
        """The replica's lag in seconds (cached for ``CHECK_EVERY_SECONDS``); None without a
        replica, inf when it cannot be measured (the replica or the primary is unreachable,
        or the server is no replica)."""
        if self.replica_engine is None:
            return None
        with self._lock:
            if time.monotonic() - self._checked < CHECK_EVERY_SECONDS:
                return self._lag
            # One request measures; the others keep the last figure meanwhile (a replica that
            # does not answer must not hold every request for its connect timeout).
            self._checked = time.monotonic()
            if self._lag is None:
                self._lag = math.inf  # until the first measure: the primary
        lag = self._measure()
        with self._lock:
            self._lag, self._checked = lag, time.monotonic()
        return lag

    def _measure(self) -> float:
        assert self.replica_engine is not None
        try:
            with self.primary_engine.connect() as conn:
                primary_lsn = conn.execute(_PRIMARY_LSN).scalar_one()
            with self.replica_engine.connect() as conn:
                recovering, behind, since, all_replayed, streaming = conn.execute(
                    _REPLICA_STATE, {"primary": primary_lsn}
                ).one()
        except Exception as exc:  # an unreachable replica means: read from the primary
            log.warning("replica lag unknown", error=type(exc).__name__)
            return math.inf
        if not recovering:
            log.warning("the read URL is no replica (not in recovery)")
            return math.inf
        if behind is not None and behind <= 0:
            return 0.0
        if streaming and all_replayed:
            # Streaming, and everything received is replayed: what it lacks is in flight (an
            # idle primary still writes a little WAL now and then), not a replay delay.
            return 0.0
        return float(since) if since is not None else math.inf

    def target(self) -> str:
        """Where reads go now: the replica while it is close enough, else the primary."""
        if self.replica is None:
            return PRIMARY
        lag = self.lag_seconds()
        return REPLICA if lag is not None and lag <= self.max_lag else PRIMARY

    def sessions(self) -> tuple[sessionmaker[Session], str]:
        where = self.target()
        if where == REPLICA:
            assert self.replica is not None
            return self.replica, REPLICA
        return self.primary, PRIMARY

    def dispose(self) -> None:
        if self.replica_engine is not None:
            self.replica_engine.dispose()
