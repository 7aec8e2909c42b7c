"""Schema-driven fuzzing: schemathesis reads /openapi.json from the ASGI app and sends every
operation bodies, query strings and headers generated from (and deliberately outside of) its
schema, as the owner of a real workspace: no answer is a 5xx, and every API error is the JSON
envelope."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.transport.asgi import ASGI_TRANSPORT
from schemathesis.transport.requests import text_serializer
from sqlalchemy.orm import Session

from metricx.auth.service import create_api_key
from metricx.runtime import Runtime
from tests.conftest import app_in_transaction
from tests.factories import make_workspace
from tests.ingest.helpers import make_connection

# NDJSON bodies are strings on the wire: send the generated text as it is.
ASGI_TRANSPORT.serializer("application/x-ndjson")(text_serializer)

EXAMPLES = int(os.environ.get("METRICX_FUZZ_EXAMPLES", "25"))  # per operation (~40 of them)


@pytest.fixture
def fuzz_target(runtime: Runtime, db: Session) -> Iterator[dict[str, Any]]:
    """The app (its requests inside the test's transaction) and a real workspace to aim at."""
    runtime.settings.meta_graph_url = "http://127.0.0.1:9"  # nothing listens: Meta fails fast
    runtime.settings.meta_max_retries = 0
    app = app_in_transaction(runtime, db)
    ws = make_workspace(db)
    conn = make_connection(db, ws.id)
    key = create_api_key(db, workspace_id=ws.id).key
    yield {
        "app": app,
        "headers": {"Authorization": f"Bearer {key}"},
        "paths": {"workspace_id": str(ws.id), "connection_id": str(conn.id)},
    }


def test_no_operation_answers_a_5xx(fuzz_target: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_target["app"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 35
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def attack(case: Any) -> None:
            # Aim at the real workspace (and connection) half of the time, so the checks
            # behind the 404 are fuzzed too.
            aim = hash(repr(case.body)) % 2 == 0
            for name, value in fuzz_target["paths"].items():
                if aim and case.path_parameters and name in case.path_parameters:
                    case.path_parameters[name] = value
            response = case.call(headers=fuzz_target["headers"], allow_redirects=False)
            if response.status_code == 502 and "cannot reach Meta" in response.text:
                return  # Meta is unreachable here on purpose: an honest upstream error
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]} (body {case.body!r:.300})"
            )
            if case.path.startswith("/api/") and response.status_code >= 400:
                answer = response.json()
                if "error" not in answer:  # the ingest's own 422: every record refused
                    assert answer["failed"] >= 1 and answer["errors"], answer
                    return
                assert answer["error"]["code"] and answer["error"]["message"], answer

        try:
            attack()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n".join(failures)
