"""/metrics is not open on the public port: without METRICX_METRICS_TOKEN it is not there at
all (404); with it, only its bearer reads the metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import SecretStr

from metricx.runtime import Runtime

TOKEN = "s3cret-scrape-token"


def test_no_token_configured_means_no_metrics_on_the_public_app(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer anything"}):
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
        assert "metricx_" not in answer.text


def test_only_the_bearer_of_the_token_reads_the_metrics(
    client: TestClient, runtime: Runtime
) -> None:
    runtime.settings.metrics_token = SecretStr(TOKEN)
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN}):
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert "metricx_" not in answer.text
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert "metricx_database_gauges_up" in answer.text
