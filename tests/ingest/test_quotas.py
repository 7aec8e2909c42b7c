"""Per-workspace ingest quotas (issue #20: 620 bytes of gzip, ``{}`` x 200,000 NDJSON lines,
made 200,000 failed-record rows, 57 MB, in 4.9 s). Rates answer 429 with Retry-After and say
which limit; failed records past their quota are counted and reported, not stored, and the
good records beside them are stored all the same."""

from __future__ import annotations

import gzip
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from metricx.ingest.quotas import IngestQuotas, IngestRateLimited
from metricx.runtime import build_runtime
from tests.conftest import app_client, make_settings
from tests.factories import KeyedWorkspace, make_keyed_workspace
from tests.ingest.helpers import fact
from tests.ingest.test_body_limits import counts, lines, post

NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
def ws(db: Session) -> KeyedWorkspace:
    return make_keyed_workspace(db)


@pytest.fixture
def client_with(
    tmp_path: Path, database_url: str, engine: Engine, db: Session
) -> Iterator[Callable[..., TestClient]]:
    """An app whose settings are the defaults updated with the keyword arguments."""
    made: list[Iterator[TestClient]] = []

    def make(**settings: Any) -> TestClient:
        base = make_settings(tmp_path, database_url).model_copy(update=settings)
        clients = app_client(build_runtime(base, engine=engine), db)
        made.append(clients)
        return next(clients)

    yield make
    for clients in made:
        next(clients, None)


def bad(n: int) -> list[dict[str, Any]]:
    return [fact(f"bad-{i}", impressions=-1) for i in range(n)]


def test_a_flood_of_empty_records_stores_no_more_failed_records_than_the_import_quota(
    client_with: Callable[..., TestClient], db: Session, ws: KeyedWorkspace
) -> None:
    # The defaults but the request's time: 200,000 records take a while on a loaded machine.
    client = client_with(request_timeout_seconds=600, db_idle_in_transaction_timeout_ms=0)
    body = gzip.compress(b"{}\n" * 200_000, 9)
    assert len(body) < 1000
    r = post(client, ws, body, **NDJSON, **{"Content-Encoding": "gzip"})
    assert r.status_code == 422, r.text[:500]  # every record failed
    answer = r.json()
    assert answer["failed"] == 200_000
    assert answer["failed_not_stored"] == 190_000
    assert answer["failed_not_stored_limit"] == "ingest_max_failed_records_per_import"
    assert len(answer["errors"]) == 1000 and answer["errors_omitted"] == 199_000
    assert counts(db, ws.workspace.id) == (0, 1, 10_000)


def test_failed_records_past_the_import_quota_are_reported_and_the_good_ones_stored(
    client_with: Callable[..., TestClient], db: Session, ws: KeyedWorkspace
) -> None:
    client = client_with(ingest_max_failed_records_per_import=3)
    records = [fact("ad-1"), *bad(5), fact("ad-2")]
    r = post(client, ws, lines(records), **NDJSON)
    assert r.status_code == 200, r.text[:500]
    answer = r.json()
    assert (answer["status"], answer["inserted"], answer["failed"]) == ("partial", 2, 5)
    assert answer["failed_not_stored"] == 2
    assert len(answer["errors"]) == 5  # every failure is still reported
    assert counts(db, ws.workspace.id) == (2, 1, 3)


def test_failed_records_per_day_are_shared_by_a_workspace_s_imports(
    client_with: Callable[..., TestClient], db: Session, ws: KeyedWorkspace
) -> None:
    client = client_with(ingest_max_failed_records_per_day=5)
    first = post(client, ws, lines([fact("ad-1"), *bad(4)]), **NDJSON).json()
    assert (first["inserted"], first["failed"], first["failed_not_stored"]) == (1, 4, 0)
    second = post(client, ws, lines([fact("ad-2"), *bad(4)]), **NDJSON).json()
    assert (second["inserted"], second["failed"], second["failed_not_stored"]) == (1, 4, 3)
    assert second["failed_not_stored_limit"] == "ingest_max_failed_records_per_day"
    assert counts(db, ws.workspace.id) == (2, 2, 5)
    # Another workspace has its own day.
    other = make_keyed_workspace(db)
    third = post(client, other, lines(bad(4)), **NDJSON).json()
    assert third["failed_not_stored"] == 0


def assert_rate_limited(r: Any, limit: str, per_minute: int) -> int:
    assert r.status_code == 429, r.text[:500]
    wait = int(r.headers["retry-after"])
    error = r.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["limit"] == limit
    assert error["details"]["limit_per_minute"] == per_minute
    assert error["details"]["retry_after_seconds"] == wait
    assert error["details"]["retry_at"].endswith("Z")
    assert str(per_minute) in error["message"]
    return wait


def test_requests_past_the_rate_answer_429_with_retry_after(
    client_with: Callable[..., TestClient], db: Session, ws: KeyedWorkspace
) -> None:
    client = client_with(ingest_requests_per_minute=3)
    for i in range(3):
        assert post(client, ws, lines([fact(f"ad-{i}")]), **NDJSON).status_code == 200
    r = post(client, ws, lines([fact("ad-9")]), **NDJSON)
    wait = assert_rate_limited(r, "ingest_requests_per_minute", 3)
    assert 1 <= wait <= 20  # one request's token comes back every 20 s
    assert counts(db, ws.workspace.id) == (3, 3, 0)  # the refused one stored nothing
    # Another workspace is not held back.
    other = make_keyed_workspace(db)
    assert post(client, other, lines([fact("ad-1")]), **NDJSON).status_code == 200


def test_records_past_the_rate_answer_429_once_the_bucket_is_overdrawn(
    client_with: Callable[..., TestClient], db: Session, ws: KeyedWorkspace
) -> None:
    client = client_with(ingest_records_per_minute=100, ingest_chunk_records=50)
    # Let in with a full bucket, the request may overdraw it: all 150 records are stored.
    records = [fact(f"ad-{i}") for i in range(150)]
    assert post(client, ws, lines(records), **NDJSON).json()["inserted"] == 150
    r = post(client, ws, lines([fact("ad-x")]), **NDJSON)
    wait = assert_rate_limited(r, "ingest_records_per_minute", 100)
    assert 25 <= wait <= 31  # 51 records to refill at 100 a minute
    assert counts(db, ws.workspace.id) == (150, 1, 0)


def test_request_quota_holds_exactly_under_concurrency(engine: Engine) -> None:
    """Twenty requests at once, ten tokens: ten let in (and one more per 6 s of refill)."""
    quotas = IngestQuotas(engine, uuid.uuid4(), 10, 0, 0)
    admitted: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def one() -> None:
        start.wait()
        try:
            quotas.admit()
            admitted.append(True)
        except IngestRateLimited:
            admitted.append(False)
        except BaseException as exc:  # shown by the assertion below, not lost in a thread
            errors.append(exc)

    began = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refilled = int((time.monotonic() - began) / 6)
    assert not errors and len(admitted) == 20, errors
    assert 10 <= admitted.count(True) <= 10 + refilled


def test_quotas_set_to_zero_take_nothing(engine: Engine) -> None:
    quotas = IngestQuotas(engine, uuid.uuid4(), 0, 0, 0)
    for _ in range(5):
        quotas.admit()
        quotas.charge(10**9)
    assert quotas.allow_failed(10**6) == 10**6
