"""Delivery tests send to receivers on 127.0.0.1, which metricx refuses by default (no
notification goes to a loopback or private address): the operator's allow-list admits it."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricx.config import Settings
from tests.conftest import make_settings

LOCAL_RECEIVERS = "127.0.0.1"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    allowed = make_settings(tmp_path, database_url)
    allowed.notify_allowed_hosts = LOCAL_RECEIVERS
    return allowed
