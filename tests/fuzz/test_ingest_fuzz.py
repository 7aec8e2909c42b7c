"""Property-based attacks on the ingest body: any JSON value in any field, bad records mixed
with good ones, and bodies that are huge, deeply nested, malformed, wrongly encoded or of the
wrong type. Never a 5xx; a refusal is a clear 4xx in the error envelope; and a good record
next to bad ones is always stored."""

from __future__ import annotations

import gzip
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metricx.facts.tables import MetricFact
from metricx.ingest.records import parse_items
from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.ingest.helpers import ingest_url

FUZZ = settings(
    max_examples=int(os.environ.get("METRICX_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FIELDS = [
    "entity_id", "external_entity_id", "provider", "level", "granularity", "event_at",
    "event_date", "hour", "minute", "fold", "utc_offset", "currency", "spend", "impressions",
    "clicks", "reach", "conversions", "leads", "purchases", "purchase_value",
]  # fmt: skip
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["NaN", "Infinity", "-1", "1e400", "", "2026-02-30", "act_1", "USD"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def good_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid fact of any provider, at hour or day granularity."""
    granularity = draw(st.sampled_from(["hour", "day"]))
    day = draw(st.integers(min_value=1, max_value=28))
    hour = draw(st.integers(min_value=0, max_value=23)) if granularity == "hour" else 0
    impressions = draw(st.integers(min_value=0, max_value=10**9))
    return {
        "external_entity_id": f"e-{draw(st.integers(min_value=1, max_value=50))}",
        "provider": draw(st.sampled_from(["meta", "google", "tiktok", "other"])),
        "level": draw(st.sampled_from(["campaign", "ad"])),
        "granularity": granularity,
        "event_at": f"2026-01-{day:02d}T{hour:02d}:00:00Z",
        "spend": str(draw(st.decimals(min_value=0, max_value=10**6, places=2))),
        "impressions": impressions,
        "clicks": draw(st.integers(min_value=0, max_value=impressions)),
        "currency": "USD",
    }


@st.composite
def bad_records(draw: st.DrawFn) -> Any:
    """A good record with one field swapped for garbage, or not a record at all."""
    if draw(st.booleans()):
        return draw(json_values)
    record = draw(good_records())
    field = draw(st.sampled_from(FIELDS))
    record[field] = draw(json_values)
    return record


def key_of(record: dict[str, Any]) -> tuple[str, ...]:
    fields = ("external_entity_id", "provider", "level", "granularity", "event_at")
    return tuple(str(record[k]) for k in fields)


@pytest.fixture
def ws(db: Session) -> Iterator[KeyedWorkspace]:
    yield make_keyed_workspace(db)


def fact_count(db: Session, workspace_id: uuid.UUID) -> int:
    db.expire_all()
    stmt = select(func.count()).select_from(MetricFact).where(
        MetricFact.workspace_id == workspace_id
    )  # fmt: skip
    return int(db.scalar(stmt) or 0)


def assert_envelope(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert error["code"] and error["message"]


@FUZZ
@given(record=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8))
def test_any_field_of_any_json_type_is_never_a_5xx(
    client: TestClient, ws: KeyedWorkspace, record: dict[str, Any]
) -> None:
    r = client.post(ingest_url(ws.workspace.id), json={"records": [record]}, headers=ws.headers)
    assert r.status_code in (200, 422), (r.status_code, r.text[:300])
    body = r.json()
    if r.status_code == 422 and "error" not in body:
        assert body["failed"] == 1 and body["errors"][0]["reason"]


@FUZZ
@given(
    good=st.lists(good_records(), min_size=1, max_size=6),
    bad=st.lists(bad_records(), min_size=1, max_size=6),
    order=st.randoms(use_true_random=False),
)
def test_a_bad_record_beside_good_ones_never_loses_the_good_ones(
    client: TestClient,
    db: Session,
    good: list[dict[str, Any]],
    bad: list[Any],
    order: Any,
) -> None:
    ws = make_keyed_workspace(db)
    tagged = [(True, g) for g in good] + [(False, b) for b in bad]
    order.shuffle(tagged)
    records = [rec for _, rec in tagged]
    r = client.post(ingest_url(ws.workspace.id), json={"records": records}, headers=ws.headers)
    assert r.status_code in (200, 422), (r.status_code, r.text[:300])
    body = r.json()
    failed_indexes = {e["index"] for e in body["errors"]}
    for index, (is_good, _) in enumerate(tagged):
        if is_good:
            assert index not in failed_indexes, (tagged[index], body["errors"])
    distinct_good = {key_of(g) for g in good}
    stored = body["inserted"] + body["updated"] + body["unchanged"]
    assert stored >= len(distinct_good)
    assert fact_count(db, ws.workspace.id) >= len(distinct_good)


DEEP = b"[" * 100_000 + b"]" * 100_000
NDJSON = {"Content-Type": "application/x-ndjson"}
GZIP = {"Content-Encoding": "gzip"}
HOSTILE_BODIES: dict[str, tuple[bytes, dict[str, str]]] = {
    "empty": (b"", {}),
    "truncated json": (b'{"records": [{"granularity": "hour"', {}),
    "not an object": (b"[1, 2, 3]", {}),
    "records not a list": (b'{"records": "all of them"}', {}),
    "records of numbers": (b'{"records": [1, 2, 3]}', {}),
    "null": (b"null", {}),
    "deeply nested": (b'{"records": ' + DEEP + b"}", {}),
    "deeply nested record": (b'{"records": [{"spend": ' + DEEP + b"}]}", {}),
    "invalid utf-8": (b'{"records": [{"external_entity_id": "\xff\xfe\xfa"}]}', {}),
    "utf-16": ('{"records": []}'.encode("utf-16"), {}),
    "latin-1": ('{"records": [{"external_entity_id": "caf\xe9"}]}'.encode("latin-1"), {}),
    "lone surrogate": (b'{"records": [{"external_entity_id": "\\ud800"}]}', {}),
    "nul bytes": (b'{"records": [{"external_entity_id": "a\\u0000b"}]}', {}),
    "NaN literal": (b'{"records": [{"granularity": "hour", "spend": NaN}]}', {}),
    "huge number": (b'{"records": [{"impressions": 1' + b"0" * 5000 + b"}]}", {}),
    "duplicate keys": (b'{"records": [], "records": 5}', {}),
    "bad gzip": (b"\x1f\x8b\x08\x00garbage", GZIP),
    "gzip of junk": (gzip.compress(b"\x00\x01\x02 not json"), GZIP),
    "unknown encoding": (b"{}", {"Content-Encoding": "br"}),
    "wrong media type": (b"records=1", {"Content-Type": "application/x-www-form-urlencoded"}),
    "xml": (b"<records/>", {"Content-Type": "application/xml"}),
    "ndjson junk lines": (b'{"granularity": "hour"}\nnot json\n\xff\n[]\n', NDJSON),
    "ndjson one huge line": (b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}\n', NDJSON),
    "huge": (b'{"records": [' + b" " * (33 * 1024 * 1024) + b"]}", {}),
    "gzip bomb": (gzip.compress(b'{"records": [' + b" " * (80 * 1024 * 1024) + b"]}"), GZIP),
    "content-length lie": (b'{"records": []}', {"Content-Length": "999999999999"}),
}  # fmt: skip


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_bodies_get_a_clear_4xx(client: TestClient, ws: KeyedWorkspace, name: str) -> None:
    content, extra = HOSTILE_BODIES[name]
    headers = {**ws.headers, "Content-Type": "application/json", **extra}
    try:
        r = client.post(ingest_url(ws.workspace.id), content=content, headers=headers)
    except Exception as exc:  # the test client refusing to send a lying length is fine too
        assert name == "content-length lie", exc
        return
    if r.status_code == 200:
        # A body that is valid after all must have stored nothing bad and said so.
        assert name in ("latin-1", "ndjson junk lines") or r.json()["failed"] >= 0
        return
    if r.status_code == 422 and "error" not in r.json():
        assert r.json()["failed"] >= 1  # every record refused, each with its reason
        return
    assert_envelope(r)


def test_what_the_fuzzing_found_stays_fixed(client: TestClient, ws: KeyedWorkspace) -> None:
    """Each of these once answered 500 (losing the good record beside it) or hung a worker."""
    good = {
        "external_entity_id": "kept",
        "provider": "google",
        "level": "ad",
        "granularity": "hour",
        "event_at": "2026-01-05T10:00:00Z",
        "impressions": 10,
        "currency": "EUR",
    }
    found = [
        {**good, "granularity": ["hour"]},  # unhashable: TypeError
        {**good, "provider": {"meta": 1}},
        {**good, "external_entity_id": "a\x00b"},  # NUL: PostgreSQL refuses the text
        {**good, "spend": "x", "\x00": 1},  # NUL in the dead letter's JSONB
        {**good, "impressions": "1e999999"},  # int() of it: minutes of CPU
        {**good, "clicks": 1e308},
    ]
    started = time.monotonic()
    parse_items(found, 0)
    assert time.monotonic() - started < 2  # "1e999999" once took minutes here
    r = client.post(
        ingest_url(ws.workspace.id), json={"records": [*found, good]}, headers=ws.headers
    )
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert body["failed"] == len(found) and body["inserted"] == 1
    assert {e["index"] for e in body["errors"]} == set(range(len(found)))
