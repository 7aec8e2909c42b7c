"""Running an HTTP ingest: each chunk of the body is taken apart (``body.BodyReader``), parsed
and prepared (checked against the record limits, placed in time, keyed, formatted) in worker
threads while the previous chunk is written to PostgreSQL in another, so the Python work and
the database's work overlap and the event loop only waits.

A body-level limit broken mid-stream raises out of here after earlier chunks were written:
the request's unit of work rolls them back with the rest, so nothing of the import is stored."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from metricx.config import Settings
from metricx.ingest import service
from metricx.ingest.body import IngestBody
from metricx.ingest.chunk import Chunk
from metricx.ingest.quotas import IngestQuotas
from metricx.ingest.records import RecordLimits, parse_items
from metricx.kit.priority import ReadsFirst, StepAside


def _prepared(
    ingestion: service.Ingestion,
    raws: list[Any],
    start: int,
    limits: RecordLimits,
    quotas: IngestQuotas,
) -> Chunk:
    quotas.charge(len(raws))
    return ingestion.prepare(parse_items(raws, start, limits))


async def run_ingest(
    body: IngestBody,
    *,
    session: Session,
    settings: Settings,
    workspace_id: uuid.UUID,
    connection_id: uuid.UUID | None,
    idempotency_key: str | None,
    quotas: IngestQuotas,
    reads_first: ReadsFirst | None = None,
) -> dict[str, Any]:
    """The ingest answer for this request (a stored one for a retried Idempotency-Key).
    Raises ``quotas.IngestRateLimited`` (429) before reading the body when the workspace is
    over its rate; counts the records it reads against it."""
    await run_in_threadpool(quotas.admit)
    if idempotency_key is not None:
        earlier = await run_in_threadpool(
            service.previous_answer,
            session,
            workspace_id=workspace_id,
            idempotency_key=idempotency_key,
        )
        if earlier is not None:
            return service.replayed_answer(earlier, request_hash=await body.drain())
    ingestion = await run_in_threadpool(
        lambda: service.Ingestion(
            session,
            settings=settings,
            workspace_id=workspace_id,
            source="api",
            connection_id=connection_id,
            idempotency_key=idempotency_key,
            failed_allowance=quotas.allow_failed,
        )
    )
    limits = RecordLimits.of(settings)
    aside = StepAside(reads_first or ReadsFirst(), settings.ingest_reads_first_ms / 1000)
    writing: asyncio.Future[None] | None = None
    try:
        async for start, raws in body.records(settings.ingest_chunk_records):
            await aside.turn()
            chunk = await run_in_threadpool(_prepared, ingestion, raws, start, limits, quotas)
            if writing is not None:
                await writing
            await aside.turn()
            writing = asyncio.ensure_future(run_in_threadpool(ingestion.write, chunk))
        if writing is not None:
            await writing
            writing = None
    finally:
        if writing is not None:  # never leave the session busy in a thread while unwinding
            await asyncio.gather(writing, return_exceptions=True)
    await aside.turn()
    result = await run_in_threadpool(lambda: ingestion.finish(request_hash=body.digest()))
    return result.as_dict()
