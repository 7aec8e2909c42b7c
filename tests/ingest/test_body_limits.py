"""Hostile ingest bodies (issue #20's probe): a body past a body-level limit (a compression
bomb, a flood of blank lines) is refused whole with 413 and nothing of it is stored; a record
past a record-level limit (too large, an array too long, nested too deep) fails alone with its
reason, the records beside it are stored, and its dead letter keeps only its beginning."""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from metricx.facts.tables import MetricFact
from metricx.models import FailedRecord, Import
from metricx.runtime import build_runtime
from tests.conftest import app_client, make_settings
from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.ingest.helpers import fact, ingest_url

NDJSON = {"Content-Type": "application/x-ndjson"}
GZIP = {"Content-Encoding": "gzip"}
DEEP = "[" * 600 + "]" * 600


@pytest.fixture
def ws(db: Session) -> KeyedWorkspace:
    return make_keyed_workspace(db)


@pytest.fixture
def small_chunks(
    tmp_path: Path, database_url: str, engine: Engine, db: Session
) -> Iterator[TestClient]:
    """The app writing every 5 records: a body refused late has had chunks written already."""
    settings = make_settings(tmp_path, database_url).model_copy(update={"ingest_chunk_records": 5})
    yield from app_client(build_runtime(settings, engine=engine), db)


def post(client: TestClient, ws: KeyedWorkspace, content: bytes, **headers: str) -> Response:
    return client.post(
        ingest_url(ws.workspace.id), content=content, headers={**ws.headers, **headers}
    )


def lines(records: list[Any]) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records
    )


def good(start: int, n: int) -> list[dict[str, Any]]:
    return [fact(f"ad-{i}") for i in range(start, start + n)]


def counts(db: Session, workspace_id: uuid.UUID) -> tuple[int, int, int]:
    """Facts, imports and failed records stored for the workspace."""
    db.expire_all()

    def count(model: Any) -> int:
        where = model.workspace_id == workspace_id
        return int(db.scalar(select(func.count()).select_from(model).where(where)) or 0)

    return count(MetricFact), count(Import), count(FailedRecord)


def failed_records(client: TestClient, ws: KeyedWorkspace, import_id: str) -> list[Any]:
    r = client.get(
        f"/api/v1/workspaces/{ws.workspace.id}/metrics/failed-records",
        params={"import_id": import_id},
        headers=ws.headers,
    )
    assert r.status_code == 200, r.text[:500]
    listed: list[Any] = r.json()
    return listed


def assert_refused_body(r: Response, limit: str) -> None:
    assert r.status_code == 413, r.text[:500]
    error = r.json()["error"]
    assert error["code"] == "payload_too_large" and error["details"]["limit"] == limit
    assert error["message"]


def test_gzip_bomb_of_blank_lines_is_refused_and_nothing_is_stored(
    small_chunks: TestClient, db: Session, ws: KeyedWorkspace
) -> None:
    # 20 good records (four chunks written before the bomb), then 50 MB of blank lines.
    body = gzip.compress(lines(good(0, 20)) + b"\n" * (50 * 1024 * 1024))
    assert len(body) < 100 * 1024
    r = post(small_chunks, ws, body, **NDJSON, **GZIP)
    assert_refused_body(r, "blank_lines")
    assert "blank lines" in r.json()["error"]["message"]
    assert counts(db, ws.workspace.id) == (0, 0, 0)


def test_gzip_bomb_in_one_line_is_refused_for_its_expansion(
    small_chunks: TestClient, db: Session, ws: KeyedWorkspace
) -> None:
    spaces = b" " * (50 * 1024 * 1024)
    for content, kind in (
        (lines(good(0, 20)) + spaces, NDJSON),
        (b'{"records": [' + spaces + b"]}", {"Content-Type": "application/json"}),
    ):
        r = post(small_chunks, ws, gzip.compress(content), **kind, **GZIP)
        assert_refused_body(r, "expansion_ratio")
        assert "100 times" in r.json()["error"]["message"]
    assert counts(db, ws.workspace.id) == (0, 0, 0)


def test_plain_blank_lines_below_the_limit_are_skipped(
    client: TestClient, db: Session, ws: KeyedWorkspace
) -> None:
    r = post(client, ws, b"\n\n" + lines(good(0, 3)) + b"  \n\r\n" * 100, **NDJSON)
    assert r.status_code == 200 and r.json()["inserted"] == 3


def huge_array(n: int) -> list[int]:
    rng = random.Random(20)  # numbers that do not compress away: a ratio well under 100
    return [rng.randrange(10**9) for _ in range(n)]


def assert_bounded_dead_letter(listed: list[Any], index: int, reason: str) -> None:
    assert [f["record_index"] for f in listed] == [index]
    assert listed[0]["errors"][0]["field"] == "record"
    assert listed[0]["errors"][0]["reason"] == reason
    payload = listed[0]["payload"]
    assert payload["truncated"] is True and 0 < len(payload["preview"].encode()) <= 4096
    assert len(json.dumps(payload)) < 5000


def test_record_with_a_huge_array_fails_alone_with_a_bounded_dead_letter(
    client: TestClient, db: Session, ws: KeyedWorkspace
) -> None:
    array = huge_array(2_000_000)
    # NDJSON: the line is too large to keep; it is skipped as it streams by.
    records: list[Any] = [*good(0, 5), {**fact("ad-x"), "spend": array}, *good(5, 5)]
    r = post(client, ws, gzip.compress(lines(records), 1), **NDJSON, **GZIP)
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert (body["status"], body["inserted"], body["failed"]) == ("partial", 10, 1)
    reason = "larger than 65536 bytes"
    assert body["errors"] == [{"index": 5, "field": "record", "reason": reason, "code": "invalid"}]
    assert_bounded_dead_letter(failed_records(client, ws, body["import_id"]), 5, reason)
    # A JSON body: the array is parsed, then refused for its length.
    envelope = {"records": [*good(10, 5), {**fact("ad-y"), "spend": array}, *good(15, 5)]}
    content = gzip.compress(json.dumps(envelope).encode(), 1)
    r = post(client, ws, content, **{"Content-Type": "application/json"}, **GZIP)
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert (body["status"], body["inserted"], body["failed"]) == ("partial", 10, 1)
    reason = "an array of more than 1000 items"
    assert body["errors"][0]["reason"] == reason
    assert_bounded_dead_letter(failed_records(client, ws, body["import_id"]), 5, reason)
    assert counts(db, ws.workspace.id) == (20, 2, 2)


def test_record_with_a_long_array_under_the_size_limit_fails_for_its_length(
    client: TestClient, ws: KeyedWorkspace
) -> None:
    records: list[Any] = [fact("ad-1"), {**fact("ad-2"), "spend": [1] * 5000}]
    r = post(client, ws, lines(records), **NDJSON)
    body = r.json()
    assert (r.status_code, body["inserted"], body["failed"]) == (200, 1, 1)
    assert body["errors"][0]["reason"] == "an array of more than 1000 items"


@pytest.mark.parametrize("depth", [40, 600, 5000])
def test_deeply_nested_ndjson_line_fails_alone_and_the_others_are_stored(
    client: TestClient, db: Session, ws: KeyedWorkspace, depth: int
) -> None:
    deep = b'{"spend": ' + b"[" * depth + b"]" * depth + b"}"
    r = post(client, ws, lines([*good(0, 100), deep, *good(100, 100)]), **NDJSON)
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert (body["status"], body["inserted"], body["failed"]) == ("partial", 200, 1)
    reason = "nested deeper than 32 levels"
    assert body["errors"] == [
        {"index": 100, "field": "record", "reason": reason, "code": "invalid"}
    ]
    assert counts(db, ws.workspace.id) == (200, 1, 1)
    listed = failed_records(client, ws, body["import_id"])
    assert_bounded_dead_letter(listed, 100, reason)
    assert listed[0]["payload"]["preview"].startswith('{"spend": [[[[')


def test_deeply_nested_record_of_a_json_body_fails_alone(
    client: TestClient, db: Session, ws: KeyedWorkspace
) -> None:
    deep = '{"spend": ' + DEEP + "}"
    before = ", ".join(json.dumps(r) for r in good(0, 100))
    after = ", ".join(json.dumps(r) for r in good(100, 100))
    content = f'{{"records": [{before}, {deep}, {after}]}}'
    r = post(client, ws, content.encode(), **{"Content-Type": "application/json"})
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert (body["status"], body["inserted"], body["failed"]) == ("partial", 200, 1)
    assert body["errors"][0] == {
        "index": 100,
        "field": "record",
        "reason": "nested deeper than 32 levels",
        "code": "invalid",
    }
    assert counts(db, ws.workspace.id) == (200, 1, 1)
    listed = failed_records(client, ws, body["import_id"])
    assert_bounded_dead_letter(listed, 100, "nested deeper than 32 levels")
    assert listed[0]["payload"]["preview"].startswith('{"spend": [[[[')


def test_a_refused_record_of_ordinary_shape_keeps_its_whole_payload(
    client: TestClient, ws: KeyedWorkspace
) -> None:
    bad = fact("ad-2", impressions=-5)
    r = post(client, ws, lines([fact("ad-1"), bad]), **NDJSON)
    listed = failed_records(client, ws, r.json()["import_id"])
    assert listed[0]["payload"] == bad


def test_a_large_refused_record_keeps_a_truncated_payload(
    client: TestClient, ws: KeyedWorkspace
) -> None:
    # Under the record limit but over the dead letter's: its beginning is kept, marked so.
    bad = fact("ad-2", impressions=-5, spend="1" + "0" * 20_000)
    r = post(client, ws, lines([fact("ad-1"), bad]), **NDJSON)
    body = r.json()
    assert (body["inserted"], body["failed"]) == (1, 1)
    payload = failed_records(client, ws, body["import_id"])[0]["payload"]
    assert payload["truncated"] is True and payload["size_bytes"] > 20_000
    assert len(payload["preview"].encode()) <= 4096
    assert payload["preview"].startswith('{"external_entity_id":"ad-2"')
