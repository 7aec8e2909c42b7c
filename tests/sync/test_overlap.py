"""Three ad accounts of ONE workspace (an agency's normal case) synced by three workers while
API ingests go into the same workspace: a chunk is fetched from Meta with no transaction
open and no fact-writer lock held, then written in one short transaction, so one account's
writes land while the others are still fetching, and an API ingest completes while a sync
is fetching. Proved from the timestamps each chunk records in its checkpoint and from the
ingests' import rows, never from wall-clock ratios."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from metricx.app import create_app
from metricx.connections.service import add_with_token
from metricx.db import unit_of_work
from metricx.models import Connection, Fetch, Import, RunStatus
from metricx.runtime import Runtime
from metricx.sync import runner, service
from tests.factories import make_keyed_workspace
from tests.meta_sandbox import MetaSandbox
from tests.reliability.scenarios import load_fetch, sandbox_now, wait_for
from tests.sync.conftest import sandbox_clients

ACCOUNTS = 3
INGESTS = 4
Span = tuple[datetime, datetime]


def one_workspace(runtime: Runtime, box: MetaSandbox) -> tuple[uuid.UUID, str, list[Connection]]:
    """A workspace with an API key and three sandbox accounts connected to it."""
    with unit_of_work(runtime.sessions) as session:
        keyed = make_keyed_workspace(session)
        rows = add_with_token(
            session,
            settings=runtime.settings,
            cipher=runtime.cipher,
            workspace_id=keyed.workspace.id,
            access_token=box.token(),
            accounts=box.accounts()[:ACCOUNTS],
            created_by=None,
        )
        session.flush()
        for row in rows:
            session.expunge(row)
        return keyed.workspace.id, keyed.key, rows


def backfill(runtime: Runtime, box: MetaSandbox, connection: Connection) -> uuid.UUID:
    with unit_of_work(runtime.sessions) as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        today = service.local_today(row, sandbox_now(box))
        fetch = service.request_sync(
            session,
            settings=runtime.settings,
            connection=row,
            since=today - timedelta(days=2),
            until=today,
            now=datetime.now(UTC),  # real time, as the worker's (the entity refresh's age)
        )
        return fetch.id


def chunks_of(
    runtime: Runtime, fetch_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    with unit_of_work(runtime.sessions) as session:
        rows = session.scalars(select(Fetch).where(Fetch.id.in_(fetch_ids))).all()
        return {f.id: list((f.checkpoint or {}).get("chunks", [])) for f in rows}


def fetching_now(runtime: Runtime, fetch_ids: list[uuid.UUID]) -> bool:
    """Some chunk's fetch from Meta has begun and its write has not."""
    return any(
        c.get("fetch_started") and c["status"] == "pending" and not c.get("write_started")
        for chunks in chunks_of(runtime, fetch_ids).values()
        for c in chunks
    )


def span(chunk: dict[str, Any], start: str, end: str) -> Span:
    return datetime.fromisoformat(chunk[start]), datetime.fromisoformat(chunk[end])


def inside(inner: Span, outer: Span) -> bool:
    return outer[0] < inner[0] and inner[1] < outer[1]


def test_accounts_of_one_workspace_and_api_ingests_overlap_with_meta_fetches(
    sync_runtime: Runtime, sync_sandbox: MetaSandbox
) -> None:
    sync_runtime.settings.sync_chunk_days_daily = 1
    sync_runtime.settings.sync_chunk_days_hourly = 1
    # Meta's latency: every call takes a quarter second, so a chunk's fetch lasts long
    # enough for other work to happen during it (the sandbox holds the answer, async).
    sync_sandbox.faults(slow_rate=1.0, slow_seconds=0.25)
    ws_id, key, connections = one_workspace(sync_runtime, sync_sandbox)
    fetch_ids = [backfill(sync_runtime, sync_sandbox, c) for c in connections]
    errors: list[BaseException] = []

    def worker(fetch_id: uuid.UUID) -> None:
        try:
            while (
                runner.run_fetch(
                    sync_runtime,
                    fetch_id,
                    client_factory=sandbox_clients(sync_sandbox),
                    sleep=sync_sandbox.advance,
                )
                == "deferred"
            ):
                pass
        except BaseException as exc:  # the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f,)) for f in fetch_ids]
    for t in threads:
        t.start()
    imports: list[uuid.UUID] = []
    try:
        with TestClient(create_app(sync_runtime), base_url="https://testserver") as http:
            for n in range(INGESTS):
                # An ingest is sent when a sync is seen fetching from Meta.
                wait_for(lambda: fetching_now(sync_runtime, fetch_ids), timeout=120, every=0.02)
                r = http.post(
                    f"/api/v1/workspaces/{ws_id}/metrics/ingest",
                    json={"records": [api_fact(n)]},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert r.status_code == 200, r.text
                imports.append(uuid.UUID(r.json()["import_id"]))
    finally:
        for t in threads:
            t.join(300)
        sync_sandbox.http.delete("/_sandbox/faults")
    assert not errors, errors
    for fetch_id in fetch_ids:
        assert load_fetch(sync_runtime, fetch_id).status is RunStatus.SUCCEEDED

    by_fetch = chunks_of(sync_runtime, fetch_ids)
    fetches: list[tuple[uuid.UUID, Span]] = []
    writes: list[tuple[uuid.UUID, Span]] = []
    for fetch_id, chunks in by_fetch.items():
        assert len(chunks) > 3
        for c in chunks:
            fetched = span(c, "fetch_started", "fetch_finished")
            written = span(c, "write_started", "write_finished")
            # Each chunk: every page from Meta first, then its write.
            assert fetched[0] <= fetched[1] <= written[0] <= written[1], c
            fetches.append((fetch_id, fetched))
            writes.append((fetch_id, written))
    # Writes of one account land while another account of the same workspace is fetching.
    interleaved = [(a, b) for a, w in writes for b, f in fetches if a != b and inside(w, f)]
    assert {a for a, _ in interleaved} == set(fetch_ids), interleaved
    # An API ingest into the workspace completes while a sync is fetching from Meta.
    with unit_of_work(sync_runtime.sessions) as session:
        done = session.scalars(select(Import).where(Import.id.in_(imports))).all()
        ingests = [(i.created_at, i.finished_at) for i in done if i.finished_at is not None]
    assert len(ingests) == INGESTS
    assert any(inside(i, f) for i in ingests for _, f in fetches), (ingests, fetches)


def api_fact(n: int) -> dict[str, Any]:
    return {
        "external_entity_id": f"api-{n}",
        "provider": "tiktok",
        "level": "ad",
        "granularity": "hour",
        "event_at": f"2026-01-05T{n:02d}:00:00Z",
        "spend": "1.00",
        "impressions": 10,
        "clicks": 1,
        "currency": "USD",
    }
