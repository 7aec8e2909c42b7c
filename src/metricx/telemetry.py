"""Prometheus metrics: one registry for the process, served at ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

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

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus exposition of the process's metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
