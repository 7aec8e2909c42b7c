"""What the Schemathesis runs aim at: the app, its requests inside the test's transaction,
and the owner's API key of a real workspace with a connection."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from metricx.auth.service import create_api_key
from metricx.runtime import Runtime
from tests.conftest import app_in_transaction
from tests.factories import make_workspace
from tests.fuzz.campaign import FuzzTarget
from tests.ingest.helpers import make_connection


@pytest.fixture
def fuzz_target(runtime: Runtime, db: Session) -> Iterator[FuzzTarget]:
    runtime.settings.meta_graph_url = "http://127.0.0.1:9"  # nothing listens: Meta fails fast
    runtime.settings.meta_max_retries = 0
    app = app_in_transaction(runtime, db)
    ws = make_workspace(db)
    conn = make_connection(db, ws.id)
    key = create_api_key(db, workspace_id=ws.id).key
    yield FuzzTarget(
        app=app,
        headers={"Authorization": f"Bearer {key}"},
        paths={"workspace_id": str(ws.id), "connection_id": str(conn.id)},
    )


# The long campaign is `make fuzz`'s alone: outside it, the suite does not collect it (rather
# than reporting it skipped on every run).
collect_ignore = [] if os.environ.get("METRICX_FUZZ_CAMPAIGN") else ["test_fuzz_campaign.py"]
