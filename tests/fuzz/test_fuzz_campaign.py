"""`make fuzz`: the long Schemathesis campaign, every operation with many examples, in
METRICX_FUZZ_SHARDS shards of their own seed (one per test process); with
METRICX_FUZZ_PROGRESS=path, each shard appends its counts so far to path.N every 30 s. Run
by `make fuzz` only (tests/fuzz/conftest.py leaves it out of the suite otherwise): the
suite's bounded runs are test_openapi_fuzz*.py.

Unlike those, the campaign runs the app as it is served: on a migrated database of its own,
every request its own committed unit of work. Tens of thousands of requests inside one test
transaction would hold a lock per table partition they touched until the end, and exhaust
the server's lock table long before the campaign ends."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from metricx.app import create_app
from metricx.auth.service import create_api_key
from metricx.db import unit_of_work
from metricx.migrate import upgrade
from metricx.runtime import build_runtime
from tests.conftest import make_settings
from tests.factories import make_workspace
from tests.fuzz.campaign import SEED, FuzzTarget, run_campaign
from tests.ingest.helpers import make_connection

SHARDS = int(os.environ.get("METRICX_FUZZ_SHARDS", "2"))


@pytest.fixture
def campaign_target(fresh_database: Callable[[str], str], tmp_path: Path) -> Iterator[FuzzTarget]:
    url = fresh_database("fuzz_campaign")
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    runtime = build_runtime(make_settings(tmp_path, url))
    runtime.settings.meta_graph_url = "http://127.0.0.1:9"  # nothing listens: Meta fails fast
    runtime.settings.meta_max_retries = 0
    with unit_of_work(runtime.sessions) as session:
        ws = make_workspace(session)
        conn = make_connection(session, ws.id)
        key = create_api_key(session, workspace_id=ws.id).key
        paths = {"workspace_id": str(ws.id), "connection_id": str(conn.id)}
    yield FuzzTarget(
        app=create_app(runtime), headers={"Authorization": f"Bearer {key}"}, paths=paths
    )
    runtime.dispose()


@pytest.mark.parametrize("shard", range(SHARDS))
def test_long_campaign_finds_nothing_wrong(campaign_target: FuzzTarget, shard: int) -> None:
    progress = os.environ.get("METRICX_FUZZ_PROGRESS")
    result = run_campaign(
        campaign_target,
        seed=SEED + shard,
        progress=Path(f"{progress}.{shard}") if progress else None,
    )
    print(f"shard {shard} (seed {SEED + shard}): {result.summary()}")
    for failure in result.failures[:50]:
        print(failure)
    assert not result.errors, "\n".join(result.errors)
    assert not result.failures, result.summary()
