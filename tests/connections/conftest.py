from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.runtime import Runtime, build_runtime
from tests.conftest import app_client
from tests.meta_sandbox import MetaSandbox, big_config, sandbox_fixture


@pytest.fixture(scope="session")
def meta_sandbox() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(big_config())


@pytest.fixture(autouse=True)
def _reset_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "meta_sandbox" in request.fixturenames:
        request.getfixturevalue("meta_sandbox").reset()


@pytest.fixture
def meta_settings(meta_sandbox: MetaSandbox, tmp_path: Path, database_url: str) -> Settings:
    return meta_sandbox.settings(tmp_path, database_url)


@pytest.fixture
def meta_runtime(meta_settings: Settings, engine: Engine) -> Runtime:
    return build_runtime(meta_settings, engine=engine)


@pytest.fixture
def api(meta_runtime: Runtime, db: Session) -> Iterator[TestClient]:
    """The app configured for the sandbox, its requests inside the test's transaction."""
    yield from app_client(meta_runtime, db)
