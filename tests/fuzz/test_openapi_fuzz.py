"""Schema-driven fuzzing: Schemathesis reads /openapi.json from the ASGI app and runs every
phase (examples, coverage, fuzzing, stateful) against every operation, as the owner of a
real workspace, with all of its checks on: no 5xx, every status and header documented,
every answer as its schema says, schema-valid input accepted and invalid input refused, 405
with a true ``Allow``, credentials enforced. And the document itself is complete: no
dangling reference, every error in the JSON envelope."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from metricx.auth.service import create_api_key
from tests.factories import make_workspace
from tests.fuzz.campaign import ZONE_TAGS, FuzzTarget, run_campaign


def test_schemathesis_finds_nothing_wrong(fuzz_target: FuzzTarget) -> None:
    """Every operation but those taking a time zone (test_openapi_fuzz_zones.py)."""
    result = run_campaign(fuzz_target, exclude_tags=ZONE_TAGS)
    print(result.summary())
    assert len(result.operations) >= 35, result.operations
    assert not result.errors, "\n".join(result.errors)
    assert not result.failures, f"{result.summary()}\n" + "\n".join(result.failures[:20])


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_the_openapi_document_has_no_dangling_reference(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    refs = set(_refs(document))
    assert "#/components/schemas/MetricFactCreate" in refs  # the ingest body's records
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, f"dangling {ref}"
    assert "HTTPValidationError" not in json.dumps(document)  # the API answers the envelope


def test_every_operation_documents_its_errors_in_the_envelope(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            responses = operation["responses"]
            for status, answer in responses.items():
                if int(status) < 400:
                    continue
                schema = answer["content"]["application/json"]["schema"]
                assert schema == envelope or envelope in schema.get("anyOf", []), label
            if not path.startswith("/api/"):
                continue
            needed = {"503"}
            if "parameters" in operation or "requestBody" in operation:
                needed.add("422")
            if "security" in operation:
                needed |= {"401", "403"}
            if "{" in path:
                needed.add("404")
            assert needed <= set(responses), (label, sorted(responses))
            assert responses["503"]["headers"]["Retry-After"]["required"] is True, label
    ingest = document["paths"]["/api/v1/workspaces/{workspace_id}/metrics/ingest"]["post"]
    assert {"409", "413", "415", "422", "429"} <= set(ingest["responses"])
    connect = document["paths"]["/api/v1/workspaces/{workspace_id}/connections"]["post"]
    assert "502" in connect["responses"]  # it asks Meta


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/workspaces", "GET, POST"),
        ("OPTIONS", "/api/v1/workspaces/{ws}", "GET, PATCH"),
        ("DELETE", "/api/v1/workspaces/{ws}/connections", "GET, POST"),
        ("PATCH", "/api/v1/workspaces/{ws}/api-keys", "GET, POST"),
        ("POST", "/healthz", "GET"),
    ],
)
def test_405_names_every_method_of_the_path(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    """The router's own Allow named only the first matching route's methods: GET and POST of
    one path are two routes, and a POST to it was told `Allow: GET`."""
    r = client.request(method, path.format(ws=uuid.uuid4()))
    assert r.status_code == 405
    assert r.headers["allow"] == allowed
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_a_body_that_is_not_utf8_is_a_422_not_a_400(client: TestClient, db: Session) -> None:
    ws = make_workspace(db)
    key = create_api_key(db, workspace_id=ws.id).key
    r = client.post(
        f"/api/v1/workspaces/{ws.id}/api-keys",
        content=b'{"name": "\xff\xfe"}',
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
