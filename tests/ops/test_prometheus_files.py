"""The Prometheus alert rules and the Grafana dashboard in ops/ parse and name only metrics
the app really exposes at /metrics; /metrics has each listed metric with a sane value after a
sandbox sync."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import create_engine

import metricx.sync.metrics  # noqa: F401  (registers the sync's metrics, as a worker does)
from metricx.app import create_app
from metricx.db import make_engine, unit_of_work
from metricx.jobs.enqueue import defer_job
from metricx.migrate import upgrade
from metricx.models import Connection
from metricx.runtime import Runtime, build_runtime
from metricx.sync import runner, service
from metricx.sync.service import local_today
from tests.meta_sandbox import MetaSandbox, sandbox_fixture
from tests.sync.conftest import connect_account, sandbox_clients, small_config

OPS = Path(__file__).resolve().parents[2] / "ops"
TOKEN = "prometheus-scrape-token"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
}
LISTED = [
    "metricx_ingest_records_total",
    "metricx_ingest_request_seconds_bucket",
    "metricx_sync_runs_total",
    "metricx_sync_duration_seconds_count",
    "metricx_sync_rows_total",
    "metricx_meta_api_calls_total",
    "metricx_meta_throttle_wait_seconds_total",
    "metricx_meta_usage_percent",
    "metricx_data_freshness_seconds",
    "metricx_newest_data_age_seconds",
    "metricx_data_stale",
    "metricx_failed_records_waiting",
    "metricx_jobs_waiting",
    "metricx_job_oldest_waiting_seconds",
    "metricx_token_expiry_days",
]


def exposed_names(body: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(body):
        names.add(family.name)
        names.update(family.name + s for s in SUFFIXES.get(family.type, ()))
        names.update(s.name for s in family.samples)
    return names


def samples(body: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def named_in(expr: str) -> set[str]:
    return set(re.findall(r"\bmetricx_[a-z0-9_]+", expr))


def rule_expressions() -> list[str]:
    doc = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())
    rules = [r for group in doc["groups"] for r in group["rules"]]
    assert rules and all({"alert", "expr"} <= r.keys() for r in rules)
    return [str(r["expr"]) for r in rules]


def dashboard_expressions() -> list[str]:
    doc = json.loads((OPS / "grafana" / "metricx.json").read_text())
    return [t["expr"] for p in doc["panels"] for t in p["targets"]]


def test_rules_and_dashboard_name_only_exposed_metrics(
    client: TestClient, runtime: Runtime
) -> None:
    runtime.settings.metrics_token = SecretStr(TOKEN)
    answer = client.get("/metrics", headers=SCRAPER)
    assert answer.status_code == 200, answer.text
    body = answer.text
    exposed = exposed_names(body)
    for source, exprs in (
        ("alerts.yml", rule_expressions()),
        ("metricx.json", dashboard_expressions()),
    ):
        named = set().union(*(named_in(e) for e in exprs))
        assert named, source
        assert named <= exposed, f"{source} names unknown metrics: {sorted(named - exposed)}"
    # Every metric the issue lists is both exposed and watched by a rule or a panel.
    watched = set().union(*(named_in(e) for e in rule_expressions() + dashboard_expressions()))
    assert set(LISTED) <= exposed
    assert {n.removesuffix("_bucket").removesuffix("_count") for n in LISTED} <= {
        n.removesuffix("_bucket").removesuffix("_count") for n in watched
    }


@pytest.fixture(scope="module")
def box() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(small_config())


@pytest.fixture
def synced(
    box: MetaSandbox, tmp_path: Path, fresh_database: Callable[[str], str]
) -> Iterator[tuple[Runtime, Connection]]:
    url = fresh_database("metrics")
    plain = create_engine(url)
    upgrade(plain)
    plain.dispose()
    settings = box.settings(tmp_path, url, metrics_token=TOKEN)
    engine = make_engine(url)
    runtime = build_runtime(settings, engine=engine)
    connection = connect_account(runtime, box, 2)
    now = datetime.fromisoformat(box.http.get("/_sandbox/clock").json()["now"])
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        today = local_today(row, now)
        fetch = service.request_sync(
            session,
            settings=settings,
            connection=row,
            since=today - timedelta(days=2),
            until=today,
            now=now,
        )
        fetch_id = fetch.id
        defer_job(session, "run_metrics_sync", {"fetch_id": "waiting"}, queue="ops-test")
    kwargs = {"client_factory": sandbox_clients(box), "sleep": box.advance}
    while runner.run_fetch(runtime, fetch_id, **kwargs) == "deferred":  # type: ignore[arg-type]
        pass
    yield runtime, connection
    engine.dispose()


def test_metrics_after_a_sandbox_sync(synced: tuple[Runtime, Connection]) -> None:
    runtime, connection = synced
    with TestClient(create_app(runtime)) as http:
        body = http.get("/metrics", headers=SCRAPER).text
    got = samples(body)
    conn = str(connection.id)

    def value(name: str, **labels: str) -> float:
        return sum(v for ls, v in got.get(name, []) if labels.items() <= ls.items())

    assert value("metricx_database_gauges_up") == 1
    assert value("metricx_sync_runs_total", outcome="succeeded") >= 1
    assert value("metricx_sync_duration_seconds_count") >= 1
    assert value("metricx_sync_rows_total", granularity="hour") > 0
    assert value("metricx_meta_api_calls_total", outcome="ok") > 0
    assert value("metricx_meta_throttle_wait_seconds_total") >= 0
    assert 0 <= value("metricx_meta_usage_percent", connection=conn) <= 100
    assert value("metricx_ingest_records_total", outcome="inserted") > 0
    [(_, freshness)] = [
        (ls, v) for ls, v in got["metricx_data_freshness_seconds"] if ls["connection"] == conn
    ]
    assert -3600 < freshness < 6 * 3600  # the sandbox's clock is an hour behind ours
    assert value("metricx_failed_records_waiting") >= 0
    assert value("metricx_jobs_waiting", queue="ops-test") == 1
    assert 0 <= value("metricx_job_oldest_waiting_seconds", queue="ops-test") < 600
    tokens = [v for ls, v in got.get("metricx_token_expiry_days", []) if ls["connection"] == conn]
    assert all(0 < d < 400 for d in tokens)


def test_the_scrape_config_matches_the_app_and_the_rules() -> None:
    doc = yaml.safe_load((OPS / "prometheus" / "scrape.yml").read_text())
    jobs = {job["job_name"]: job for job in doc["scrape_configs"]}
    assert len(jobs) == len(doc["scrape_configs"]), "Prometheus needs unique job names"
    assert doc["rule_files"] == ["alerts.yml"]
    # The public web app answers /metrics only with the bearer token.
    web = jobs["metricx-web"]
    assert web["metrics_path"] == "/metrics"
    assert web["authorization"]["type"] == "Bearer" and web["authorization"]["credentials_file"]
    # MetricxDown watches every job of the file.
    [down] = [r for g in yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())["groups"]
              for r in g["rules"] if r["alert"] == "MetricxDown"]  # fmt: skip
    selector = re.search(r'job=~"([^"]+)"', down["expr"])
    assert selector is not None
    assert all(re.fullmatch(selector.group(1), name) for name in jobs)
