"""A record nested deeper than a JSON parser goes (orjson stops at 1,024 levels, Python's own
parser at its recursion limit) fails alone, in a JSON body as in an NDJSON stream: its error
names its index and says it is nested too deep, and the good records beside it are stored
(issue #20: a stream of 100 good lines, one line nested 600 deep, then 100 good lines answered
500 and stored nothing)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.ingest.helpers import fact
from tests.ingest.test_body_limits import counts, failed_records, lines, post

REASON = "nested deeper than 32 levels"
DEPTHS = [600, 1100, 5000]  # under orjson's limit, just past it, far past Python's too


@pytest.fixture
def ws(db: Session) -> KeyedWorkspace:
    return make_keyed_workspace(db)


def good(start: int, n: int) -> list[dict[str, Any]]:
    return [fact(f"ad-{i}") for i in range(start, start + n)]


def deep_record(depth: int, kind: str = "array") -> str:
    opener, closer = ("[", "]") if kind == "array" else ('{"a": ', "}")
    return '{"spend": ' + opener * depth + "1" + closer * depth + "}"


def json_body(*records: str) -> bytes:
    return ('{"records": [' + ", ".join(records) + "]}").encode()


def assert_partial(r: Any, db: Session, ws: KeyedWorkspace, client: TestClient) -> None:
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert (body["status"], body["inserted"], body["failed"]) == ("partial", 200, 1)
    error = {"index": 100, "field": "record", "reason": REASON, "code": "invalid"}
    assert body["errors"] == [error]
    assert counts(db, ws.workspace.id) == (200, 1, 1)
    (dead,) = failed_records(client, ws, body["import_id"])
    assert dead["record_index"] == 100 and dead["payload"]["truncated"] is True
    assert dead["payload"]["preview"].startswith('{"spend": ')


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_record_of_a_json_body_fails_alone(
    client: TestClient, db: Session, ws: KeyedWorkspace, depth: int, kind: str
) -> None:
    before = [json.dumps(r) for r in good(0, 100)]
    after = [json.dumps(r) for r in good(100, 100)]
    content = json_body(*before, deep_record(depth, kind), *after)
    r = post(client, ws, content, **{"Content-Type": "application/json"})
    assert_partial(r, db, ws, client)


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_line_of_an_ndjson_body_fails_alone(
    client: TestClient, db: Session, ws: KeyedWorkspace, depth: int, kind: str
) -> None:
    content = lines([*good(0, 100), deep_record(depth, kind).encode(), *good(100, 100)])
    r = post(client, ws, content, **{"Content-Type": "application/x-ndjson"})
    assert_partial(r, db, ws, client)


def test_several_deep_records_of_a_json_body_each_fail_at_their_index(
    client: TestClient, db: Session, ws: KeyedWorkspace
) -> None:
    records = [json.dumps(r) for r in good(0, 3)]
    records[1:1] = [deep_record(2000)]
    records.append(deep_record(1100, "object"))
    r = post(client, ws, json_body(*records), **{"Content-Type": "application/json"})
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert (body["inserted"], body["failed"]) == (3, 2)
    assert [(e["index"], e["reason"]) for e in body["errors"]] == [(1, REASON), (4, REASON)]


def test_deep_nesting_outside_the_records_is_refused_with_422_naming_it(
    client: TestClient, db: Session, ws: KeyedWorkspace
) -> None:
    """The envelope itself too deep (an unknown field nested 2,000 deep, or a body that is
    only brackets): a clear 422, nothing stored, never a 500."""
    for content in (
        b'{"records": [], "x": ' + b"[" * 2000 + b"]" * 2000 + b"}",
        b"[" * 5000 + b"]" * 5000,
    ):
        r = post(client, ws, content, **{"Content-Type": "application/json"})
        assert r.status_code == 422, r.text[:500]
        assert r.json()["error"]["message"]
    assert counts(db, ws.workspace.id)[0] == 0
