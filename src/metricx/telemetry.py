"""Prometheus metrics: one registry for the process, served at ``/metrics``."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client import (
    REGISTRY as DEFAULT_REGISTRY,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from metricx.errors import NotFound, Unauthorized, error_responses
from metricx.kit.crypto import same_secret
from metricx.logging import get_logger
from metricx.metrics.freshness import FreshnessState
from metricx.replicas import REPLICA, ReadRoute

if TYPE_CHECKING:
    from metricx.runtime import Runtime

log = get_logger("metricx.telemetry")

REGISTRY = CollectorRegistry()


class _DefaultRegistry(Collector):
    """What other modules declare on prometheus_client's default registry (the sync's
    metrics, and the process, platform and gc collectors) is served at /metrics as well."""

    def collect(self) -> Iterable[Metric]:
        return DEFAULT_REGISTRY.collect()


REGISTRY.register(_DefaultRegistry())

INGEST_RECORDS = Counter(
    "metricx_ingest_records_total",
    "Metric fact records received by the ingest service, by outcome "
    "(inserted, updated, unchanged, failed, duplicate, flagged).",
    ["outcome"],
    registry=REGISTRY,
)
INGEST_IMPORTS = Counter(
    "metricx_ingest_imports_total",
    "Imports finished, by status (success, partial, failed) and source.",
    ["status", "source"],
    registry=REGISTRY,
)
INGEST_BATCH_SIZE = Histogram(
    "metricx_ingest_batch_records",
    "Records per import.",
    buckets=(1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000),
    registry=REGISTRY,
)
INGEST_DURATION = Histogram(
    "metricx_ingest_duration_seconds",
    "Time to process one import in the ingest service.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
INGEST_REQUEST_LATENCY = Histogram(
    "metricx_ingest_request_seconds",
    "Latency of ingest HTTP requests, by body format and status code.",
    ["format", "status"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)


def _families() -> dict[str, GaugeMetricFamily]:
    """The gauges read from the database at each scrape (labels: connection ids, queue names,
    alert kinds: bounded by accounts and code, never by ads)."""
    return {
        "freshness": GaugeMetricFamily(
            "metricx_data_freshness_seconds",
            "How long each active connection's copy has not been known current (the measure "
            "the stale-data alert judges: since the later of the end of the newest hour of data "
            "and the newest successful sync up to its moment).",
            labels=["connection"],
        ),
        "newest": GaugeMetricFamily(
            "metricx_newest_data_age_seconds",
            "Age of the newest hour of data of each active connection (now minus the end of "
            "that hour); grows while an account delivers nothing, even when it is current.",
            labels=["connection"],
        ),
        "stale": GaugeMetricFamily(
            "metricx_data_stale",
            "1 when the connection's data is stale by the one freshness definition (behind "
            "METRICX_ALERT_STALE_HOURS, expected to deliver, not blocked by a cause with its "
            "own alert): exactly when the in-app stale-data alert is raised.",
            labels=["connection"],
        ),
        "failed": GaugeMetricFamily(
            "metricx_failed_records_waiting",
            "Failed ingest records waiting in the dead-letter store (status pending).",
        ),
        "jobs": GaugeMetricFamily(
            "metricx_jobs_waiting",
            "Jobs due and not yet picked up by a worker, by queue.",
            labels=["queue"],
        ),
        "oldest": GaugeMetricFamily(
            "metricx_job_oldest_waiting_seconds",
            "How long the oldest due job of each queue has been waiting.",
            labels=["queue"],
        ),
        "tokens": GaugeMetricFamily(
            "metricx_token_expiry_days",
            "Days until the token of each connection expires (tokens that never expire are "
            "not listed).",
            labels=["connection"],
        ),
        "alerts": GaugeMetricFamily(
            "metricx_alerts_open",
            "Open in-app alerts, by kind and severity.",
            labels=["kind", "severity"],
        ),
        "up": GaugeMetricFamily(
            "metricx_database_gauges_up",
            "1 when the database gauges of this scrape were read, 0 when the query failed.",
        ),
        "seconds": GaugeMetricFamily(
            "metricx_database_gauges_seconds", "Time spent reading the database gauges."
        ),
        "replica_lag": GaugeMetricFamily(
            "metricx_replica_lag_seconds",
            "How far the read replica is behind the primary (+Inf: unreachable); reads go to "
            "the primary past METRICX_DATABASE_READ_MAX_LAG_SECONDS. Only with a replica.",
        ),
        "reads_on_replica": GaugeMetricFamily(
            "metricx_reads_on_replica",
            "1 while dashboard and query reads go to the read replica, 0 on the primary.",
        ),
    }


_JOBS_SQL = text(
    """
SELECT j.queue_name, count(*),
       coalesce(extract(epoch FROM now() - min(coalesce(j.scheduled_at, e.at))), 0)
FROM procrastinate_jobs j
LEFT JOIN LATERAL (SELECT max(at) AS at FROM procrastinate_events
                   WHERE job_id = j.id AND type IN ('deferred', 'deferred_for_retry')) e ON true
WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
GROUP BY 1
"""
)
_TOKENS_SQL = text(
    "SELECT c.id, extract(epoch FROM t.expires_at - now()) / 86400 FROM connections c "
    "JOIN tokens t ON t.id = c.token_id "
    "WHERE c.status <> 'disconnected' AND t.expires_at IS NOT NULL"
)
_ALERTS_SQL = text(
    "SELECT kind, severity, count(*) FROM alerts WHERE resolved_at IS NULL GROUP BY 1, 2"
)
_FAILED_SQL = text("SELECT count(*) FROM failed_records WHERE status = 'pending'")


class DatabaseCollector(Collector):
    """Gauges computed at scrape time with a few short queries under a statement timeout. A
    slow or unreachable database costs the scrape at most the timeout and reports
    ``metricx_database_gauges_up 0``."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._reads: ReadRoute | None = None
        self._timeout_ms = 2000
        self._stale_after = timedelta(hours=6)

    def watch(
        self,
        engine: Engine,
        timeout_ms: int,
        stale_after: timedelta,
        reads: ReadRoute | None = None,
    ) -> None:
        self._engine, self._timeout_ms, self._stale_after = engine, timeout_ms, stale_after
        self._reads = reads

    def describe(self) -> Iterable[Metric]:
        return list(_families().values())

    def collect(self) -> Iterator[Metric]:
        families = _families()
        if self._engine is None:
            return iter([])
        started = time.perf_counter()
        if self._reads is not None and self._reads.configured:
            lag = self._reads.lag_seconds()
            families["replica_lag"].add_metric([], lag if lag is not None else math.inf)
            families["reads_on_replica"].add_metric([], int(self._reads.target() == REPLICA))
        try:
            self._read(self._engine, families)
            families["up"].add_metric([], 1)
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("database gauges unavailable", error=type(exc).__name__)
            kept = ("up", "seconds", "replica_lag", "reads_on_replica")
            families = {k: v for k, v in families.items() if k in kept}
            families["up"] = _families()["up"]
            families["up"].add_metric([], 0)
        families["seconds"].add_metric([], time.perf_counter() - started)
        return iter(families.values())

    def _read(self, engine: Engine, families: dict[str, GaugeMetricFamily]) -> None:
        now = datetime.now(UTC)
        with engine.connect() as conn, conn.begin():
            conn.execute(text(f"SET LOCAL statement_timeout = {int(self._timeout_ms)}"))
            with Session(bind=conn) as session:
                add_freshness(session, families, now, self._stale_after)
            families["failed"].add_metric([], conn.execute(_FAILED_SQL).scalar_one())
            for queue, waiting, oldest in conn.execute(_JOBS_SQL):
                families["jobs"].add_metric([queue], waiting)
                families["oldest"].add_metric([queue], float(oldest))
            for connection_id, days in conn.execute(_TOKENS_SQL):
                families["tokens"].add_metric([str(connection_id)], float(days))
            for kind, severity, n in conn.execute(_ALERTS_SQL):
                families["alerts"].add_metric([kind, severity], n)


def add_freshness(
    session: Session, families: dict[str, GaugeMetricFamily], now: datetime, stale_after: timedelta
) -> None:
    """The freshness gauges of every active, syncing connection, read from the one freshness
    definition (``metrics.freshness``) the stale-data alert and the dashboard read."""
    from metricx.alerts.conditions import freshness

    for f in freshness(session):
        label = [str(f.connection_id)]
        families["freshness"].add_metric(label, f.behind(now).total_seconds())
        age = f.age_seconds(now)
        if age is not None:
            families["newest"].add_metric(label, age)
        stale = f.state(now, stale_after) is FreshnessState.STALE
        families["stale"].add_metric(label, 1 if stale else 0)


DATABASE_GAUGES = DatabaseCollector()
REGISTRY.register(DATABASE_GAUGES)


def watch_database(runtime: Runtime) -> None:
    """Read the database gauges from this runtime's database (the web app and each worker
    call it once at start)."""
    settings = runtime.settings
    DATABASE_GAUGES.watch(
        runtime.engine,
        settings.metrics_db_timeout_ms,
        timedelta(hours=settings.alert_stale_hours),
        reads=runtime.reads,
    )


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:
    """/metrics on its own port (the operator's, not the public one): for workers, and for
    `metricx serve --metrics-port`. No token there: keep the port off the public network."""
    start_http_server(port, addr=host, registry=REGISTRY)


router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses=error_responses(NotFound, Unauthorized),
)
def metrics(request: Request) -> Response:
    """Prometheus exposition of the process's metrics, for the bearer of
    ``METRICX_METRICS_TOKEN``. Without that setting the public app has no /metrics (404):
    queue depths, connection ids and error rates are for operators, not for the internet."""
    expected = request.app.state.runtime.settings.metrics_token
    if expected is None:
        raise NotFound("not found")
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not same_secret(sent.strip(), expected.get_secret_value()):
        raise Unauthorized(
            "send the metrics token as 'Authorization: Bearer <METRICX_METRICS_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
