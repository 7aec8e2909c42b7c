from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.meta_sandbox import MetaSandbox, big_config, sandbox_fixture


@pytest.fixture(scope="session")
def meta_sandbox() -> Iterator[MetaSandbox]:
    yield from sandbox_fixture(big_config())


@pytest.fixture(autouse=True)
def _reset_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "meta_sandbox" in request.fixturenames:
        request.getfixturevalue("meta_sandbox").reset()
