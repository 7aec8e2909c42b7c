"""A sandbox per test session on a free port, driven through the real facebook-business SDK."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from facebook_business.api import FacebookAdsApi, FacebookSession

from metricx.sandbox.config import SandboxConfig
from metricx.sandbox.server import run_in_thread

START = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@dataclass
class Sandbox:
    url: str
    http: httpx.Client
    config: SandboxConfig
    token: str

    def api(self, token: str | None = None, timeout: float = 10.0) -> FacebookAdsApi:
        FacebookSession.GRAPH = self.url  # class attribute, as the product sets it
        session = FacebookSession(
            self.config.app_id, self.config.app_secret, token or self.token, timeout=timeout
        )
        return FacebookAdsApi(session, api_version="v25.0")

    def info(self) -> dict[str, Any]:
        return self.http.get("/_sandbox").json()

    def account(self, currency: str) -> str:
        return next(a["id"] for a in self.info()["accounts"] if a["currency"] == currency)

    def truth(self, **params: str) -> dict[str, Any]:
        resp = self.http.get("/_sandbox/truth", params=params)
        resp.raise_for_status()
        return resp.json()

    def faults(self, **changes: Any) -> None:
        self.http.post("/_sandbox/faults", json=changes).raise_for_status()


def start_sandbox(config: SandboxConfig) -> tuple[Sandbox, Any]:
    url, stop = run_in_thread(config)
    http = httpx.Client(base_url=url, timeout=30)
    token = http.post("/_sandbox/token", json={}).json()["token"]
    return Sandbox(url, http, config, token), stop


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    config = SandboxConfig(
        seed=7,
        accounts=4,
        campaigns=4,
        adsets_per_campaign=2,
        ads_per_adset=3,
        days=40,
        tier="standard",
        clock=START,
        frozen_clock=True,
    )
    box, stop = start_sandbox(config)
    yield box
    box.http.close()
    stop()


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        box: Sandbox = request.getfixturevalue("sandbox")
        box.http.post("/_sandbox/reset").raise_for_status()
        box.http.post("/_sandbox/tier", json={"tier": "standard"}).raise_for_status()


ALL_STATUSES = [
    "ACTIVE",
    "PAUSED",
    "DELETED",
    "ARCHIVED",
    "CAMPAIGN_PAUSED",
    "ADSET_PAUSED",
    "PENDING_REVIEW",
    "WITH_ISSUES",
    "DISAPPROVED",
    "IN_PROCESS",
]
