"""The Meta sandbox for connection and client tests: started in a thread, with a handle on its
state for changes the sandbox has no control endpoint for (a campaign paused in "Ads Manager",
an ad that vanished)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from metricx.config import Settings
from metricx.kit.crypto import Cipher
from metricx.sandbox.app import create_sandbox_app
from metricx.sandbox.config import SandboxConfig
from metricx.sandbox.server import serve_in_thread
from metricx.sandbox.state import SandboxState

START = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@dataclass
class MetaSandbox:
    url: str
    http: httpx.Client
    config: SandboxConfig
    state: SandboxState

    def info(self) -> dict[str, Any]:
        return self.http.get("/_sandbox").json()

    def accounts(self) -> list[str]:
        return [a["id"] for a in self.info()["accounts"]]

    def token(self, ttl: int | None = None, scopes: list[str] | None = None) -> str:
        body: dict[str, Any] = {}
        if ttl is not None:
            body["ttl"] = ttl
        if scopes is not None:
            body["scopes"] = scopes
        return str(self.http.post("/_sandbox/token", json=body).json()["token"])

    def faults(self, **changes: Any) -> None:
        self.http.post("/_sandbox/faults", json=changes).raise_for_status()

    def advance(self, seconds: float) -> None:
        self.http.post("/_sandbox/clock/advance", json={"seconds": seconds}).raise_for_status()

    def revoke(self, token: str, subcode: int = 460) -> None:
        self.http.post("/_sandbox/tokens/revoke", json={"token": token, "subcode": subcode})

    def tier(self, tier: str) -> None:
        self.http.post("/_sandbox/tier", json={"tier": tier}).raise_for_status()

    def truth_rows(
        self, account: str, level: str, since: str, until: str, granularity: str = "day"
    ) -> list[dict[str, Any]]:
        """GET /_sandbox/truth's rows (day rows carry every action x window, results, video
        and click figures; see metricx.sandbox.truth)."""
        params = {
            "account_id": account,
            "level": level,
            "granularity": granularity,
            "since": since,
            "until": until,
        }
        response = self.http.get("/_sandbox/truth", params=params)
        response.raise_for_status()
        return list(response.json()["rows"])

    def truth_reach(self, account: str, level: str, since: str, until: str) -> dict[str, int]:
        """Meta's deduplicated reach of each entity of `level` for exactly [since, until]."""
        params = {"account_id": account, "level": level, "since": since, "until": until}
        response = self.http.get("/_sandbox/truth/reach", params=params)
        response.raise_for_status()
        return {r["entity_id"]: r["reach"] for r in response.json()["rows"]}

    def truth_settings(self, account: str) -> dict[str, Any]:
        """Ad set goals, promoted objects, attribution settings, result indicators, and the
        account's custom conversions."""
        response = self.http.get("/_sandbox/truth/settings", params={"account_id": account})
        response.raise_for_status()
        return dict(response.json())

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()
        self.tier(self.config.tier)

    def settings(self, tmp_path: Path, database_url: str | None, **extra: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "encryption_keys": Cipher.generate_key(),
            "secret_key": "s" * 32,
            "meta_app_id": self.config.app_id,
            "meta_app_secret": self.config.app_secret,
            "meta_graph_url": self.url,
            "meta_api_version": "v25.0",
            "meta_backoff_base_seconds": 0.01,
            "meta_backoff_max_seconds": 0.05,
            "meta_read_timeout_seconds": 5.0,
        }
        values.update(extra)
        return Settings(**values)


def start(config: SandboxConfig) -> tuple[MetaSandbox, Any]:
    app = create_sandbox_app(config)
    url, stop_server = serve_in_thread(app)
    # The server keeps idle connections a minute; this client drops its own after two
    # seconds, so it never reuses one the server is closing ("connection reset by peer").
    http = httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(keepalive_expiry=2.0))
    box = MetaSandbox(url, http, config, app.state.sandbox)

    def stop() -> None:
        box.http.close()
        stop_server()

    return box, stop


def big_config() -> SandboxConfig:
    """Two accounts of 2,200 ads each (200 ad sets, 20 campaigns), standard tier."""
    return SandboxConfig(
        seed=11,
        accounts=2,
        campaigns=20,
        adsets_per_campaign=10,
        ads_per_adset=11,
        days=10,
        tier="standard",
        clock=START,
        frozen_clock=True,
    )


def sandbox_fixture(config: SandboxConfig) -> Iterator[MetaSandbox]:
    box, stop = start(config)
    try:
        yield box
    finally:
        stop()
