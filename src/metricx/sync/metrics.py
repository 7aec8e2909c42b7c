"""The metrics sync's Prometheus metrics, on prometheus_client's default registry.

Names are a contract (dashboards and alert rules use them):
- metricx_sync_runs_total{outcome}            finished sync fetches: succeeded|partial|failed
- metricx_sync_duration_seconds               run time of one sync fetch (all its chunks)
- metricx_sync_rows_total{granularity}        insights rows read: hour|day|reach
- metricx_meta_api_calls_total{endpoint,outcome}  every Graph call: endpoint insights|
                                              insights_async|ads|...|node, outcome ok|<error kind>
- metricx_meta_throttle_wait_seconds_total    seconds spent waiting for Meta's rate limits
- metricx_meta_usage_percent{connection}      the highest rate-limit usage Meta last reported
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from metricx.integrations.meta import transport

SYNC_RUNS = Counter("metricx_sync_runs_total", "Finished metrics sync fetches.", ["outcome"])
SYNC_DURATION = Histogram(
    "metricx_sync_duration_seconds",
    "Run time of one metrics sync fetch.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200),
)
SYNC_ROWS = Counter(
    "metricx_sync_rows_total", "Insights rows read by metrics syncs.", ["granularity"]
)
META_CALLS = Counter(
    "metricx_meta_api_calls_total",
    "Graph API calls, by endpoint and outcome.",
    ["endpoint", "outcome"],
)
THROTTLE_WAIT = Counter(
    "metricx_meta_throttle_wait_seconds_total", "Seconds spent waiting for Meta's rate limits."
)
CHUNK_SPLITS = Counter(
    "metricx_sync_chunk_splits_total",
    "Sync chunks split in two after Meta failed their report job or refused their size.",
    ["part"],
)
USAGE = Gauge(
    "metricx_meta_usage_percent",
    "The highest rate-limit usage percentage Meta last reported, per connection.",
    ["connection"],
)


def _count_call(endpoint: str, outcome: str) -> None:
    META_CALLS.labels(endpoint, outcome).inc()


if _count_call not in transport.CALL_OBSERVERS:
    transport.CALL_OBSERVERS.append(_count_call)
