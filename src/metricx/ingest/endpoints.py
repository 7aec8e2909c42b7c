"""The ingest API: batch upsert of metric facts, imports, failed records and their replay."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import JSONResponse

from metricx.auth.dependencies import DbSession, RuntimeDep, WorkspaceIngester, WorkspaceReader
from metricx.errors import (
    Conflict,
    ErrorEnvelope,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    error_responses,
)
from metricx.ingest import history
from metricx.ingest.body import IngestBody, UnsupportedMediaType
from metricx.ingest.pipeline import run_ingest
from metricx.ingest.quotas import IngestQuotas, IngestRateLimited
from metricx.ingest.schemas import (
    FailedRecordRead,
    ImportRead,
    IngestRequest,
    IngestResponse,
    ReplayRequest,
    ReplayResponse,
)
from metricx.kit.inputs import MAX_OFFSET
from metricx.models import FailedRecordStatus, ImportStatus
from metricx.telemetry import INGEST_REQUEST_LATENCY

router = APIRouter(tags=["ingest"])
BASE = "/workspaces/{workspace_id}/metrics"


def _status_of(answer: dict[str, Any]) -> int:
    return 422 if answer["status"] == ImportStatus.FAILED.value else 200


def _request_schemas() -> dict[str, Any]:
    """The ingest body's schema and those it refers to, for the OpenAPI document's components
    (the body is read by hand, so FastAPI does not add them itself)."""
    schema = IngestRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), "IngestRequest": schema}


OPENAPI_SCHEMAS = _request_schemas()


@router.post(
    f"{BASE}/ingest",
    response_model=IngestResponse,
    responses={
        422: {
            "model": IngestResponse,
            "description": "Every record failed (each with its reason, such as a record "
            "nested too deep), or the body is not valid JSON / gzip",
        },
        **error_responses(
            Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType
        ),
        413: {
            "model": ErrorEnvelope,
            "description": "The body breaks a body-level limit (size, gzip expansion ratio, "
            "blank lines); nothing of it is stored",
        },
        429: {
            "model": ErrorEnvelope,
            "description": "The workspace is over its ingest rate (requests or records per "
            "minute): retry after Retry-After seconds; `details.limit` names the limit",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/IngestRequest"}},
                "application/x-ndjson": {
                    "schema": {
                        "type": "string",
                        "description": "One MetricFactCreate JSON object per line.",
                    }
                },
            },
        }
    },
)
async def ingest_metrics(
    request: Request,
    access: WorkspaceIngester,
    session: DbSession,
    runtime: RuntimeDep,
    connection_id: Annotated[
        uuid.UUID | None,
        Query(
            description="The ad account the records belong to: its time zone places event_date + "
            "hour, its currency is the records' currency."
        ),
    ] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    """Upsert a batch of metric facts.

    **Body**: `application/json` `{"records": [MetricFactCreate, ...]}` (at most
    `METRICX_INGEST_MAX_JSON_BYTES`, 32 MiB by default), or `application/x-ndjson`, one record
    per line, streamed and written in chunks at constant memory (for large loads). Either may
    be gzip-compressed (`Content-Encoding: gzip`). Over the limit: 413.

    **Limits**: the whole request is refused with 413 (`payload_too_large`, `details.limit`
    naming the limit) when its body breaks a body-level limit: its size, a gzip body that
    inflates more than `METRICX_INGEST_MAX_EXPANSION_RATIO` times (100) its compressed size
    (`expansion_ratio`), or an NDJSON body with more than `METRICX_INGEST_MAX_BLANK_LINES`
    blank lines (`blank_lines`). Nothing of such a request is stored, not even the chunks
    read before the limit was reached. A record past a record-level limit fails alone (field
    `record`, reason such as "nested deeper than 32 levels"), the others are stored: over
    `METRICX_INGEST_MAX_RECORD_BYTES` (64 KiB), an array or object of more than
    `METRICX_INGEST_MAX_ARRAY_ITEMS` (1,000) items, objects and arrays nested deeper than
    `METRICX_INGEST_MAX_DEPTH` (32). A failed record's stored payload keeps at most
    `METRICX_INGEST_FAILED_PAYLOAD_BYTES` (4 KiB) of it, as
    `{"truncated": true, "size_bytes": ..., "preview": "..."}` when it is larger.

    **Quotas** (per workspace, across all servers): `METRICX_INGEST_REQUESTS_PER_MINUTE`
    (12,000) requests and `METRICX_INGEST_RECORDS_PER_MINUTE` (12,000,000) records, good or
    bad, as token buckets that hold a minute's worth and refill evenly. A request is let in
    while the record bucket is not overdrawn, and its records are counted as they are read;
    past a rate, 429 `rate_limited` with `Retry-After` and `details` = `{limit,
    limit_per_minute, retry_after_seconds, retry_at}`, before anything is read or stored.
    Failed records kept for listing and replay: at most
    `METRICX_INGEST_MAX_FAILED_RECORDS_PER_IMPORT` (10,000) per import and
    `METRICX_INGEST_MAX_FAILED_RECORDS_PER_DAY` (200,000) per workspace and UTC day; the
    failures past them are counted in `failed` and `failed_not_stored` (with
    `failed_not_stored_limit` naming the quota) but not kept, and the good records of the
    request are stored all the same.

    **Identity**: a fact's `natural_key` is computed by the server, never sent:
    `uuid5(aad77e3d-f59c-5d6c-bd01-5ab6d089f40b, "{workspace_id}|{provider}|{level}|`
    `{external_id}|{granularity}|{UTC bucket start as YYYY-MM-DDTHH:MM:SSZ}")`. The same fact
    sent again updates the row (or leaves it alone when nothing changed). Two records of the
    same fact in one request (one chunk of `METRICX_INGEST_CHUNK_RECORDS` for NDJSON): the
    last wins, the others count as `duplicates`.

    **Entity**: `entity_id`, or `external_entity_id` + `provider` + `level` (created in the
    workspace when new, counted in `entities_created`). An id of another workspace's entity
    fails that record with `code: not_found`, reason "unknown entity".

    **Time**: `event_at` with a UTC offset (a naive time fails the record), or `event_date` +
    `hour` (+ `minute`) as wall-clock time in the ad account's time zone (`connection_id`, or
    the entity's connection) or else the workspace's. Stored in UTC. The hour skipped when
    clocks go forward fails; the hour repeated when they go back needs `fold` (0 first, 1
    second) or `utc_offset`. Hourly facts start on an hour boundary of that zone (Asia/Kolkata:
    :30 UTC), daily facts at its midnight. More than 48 h ahead, or before 2000: fails.

    **Measures**: finite, non-negative numbers (numbers or numeric strings); counts whole.
    `currency` (ISO 4217) defaults to the account's and must not contradict it. Clicks above
    impressions (or spend without impressions) are stored and counted as `flagged`.

    **Answer**: `inserted + updated + unchanged + failed + duplicates` = records received;
    `errors` lists `{index, field, reason, code}` per failed record (the first 1,000); failed
    records are kept for `GET .../metrics/failed-records` and replay. Status 200, or 422 when
    every record failed. `Idempotency-Key`: a retry of the same request returns the first
    answer without writing again; the same key with a different request is a 409.
    """
    started = time.perf_counter()
    body = IngestBody.of(request, settings=runtime.settings, salt=str(connection_id or ""))
    status = 500
    try:
        answer = await run_ingest(
            body,
            session=session,
            settings=runtime.settings,
            workspace_id=access.workspace.id,
            connection_id=connection_id,
            idempotency_key=idempotency_key,
            quotas=IngestQuotas.of(runtime.engine, runtime.settings, access.workspace.id),
            reads_first=request.app.state.reads_first,
        )
        status = _status_of(answer)
        return JSONResponse(answer, status_code=status)
    except (
        InvalidInput,
        Conflict,
        NotFound,
        PayloadTooLarge,
        UnsupportedMediaType,
        IngestRateLimited,
    ) as exc:
        status = exc.status_code
        raise
    finally:
        INGEST_REQUEST_LATENCY.labels("ndjson" if body.ndjson else "json", str(status)).observe(
            time.perf_counter() - started
        )


@router.get(
    f"{BASE}/imports",
    response_model=list[ImportRead],
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def list_imports(
    access: WorkspaceReader,
    session: DbSession,
    status: ImportStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[ImportRead]:
    """The workspace's imports, newest first: source, status (running / success / partial /
    failed), counts and duration."""
    rows = history.list_imports(
        session, workspace_id=access.workspace.id, status=status, limit=limit, offset=offset
    )
    return [ImportRead.model_validate(r) for r in rows]


@router.get(
    f"{BASE}/imports/{{import_id}}",
    response_model=ImportRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def get_import(import_id: uuid.UUID, access: WorkspaceReader, session: DbSession) -> ImportRead:
    """One import."""
    return ImportRead.model_validate(
        history.get_import(session, workspace_id=access.workspace.id, import_id=import_id)
    )


@router.get(
    f"{BASE}/failed-records",
    response_model=list[FailedRecordRead],
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def list_failed_records(
    access: WorkspaceReader,
    session: DbSession,
    status: FailedRecordStatus | None = None,
    import_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[FailedRecordRead]:
    """Records refused by imports (the dead-letter store): payload, errors, status (pending /
    replayed / discarded); filter by status and import."""
    rows = history.list_failed_records(
        session,
        workspace_id=access.workspace.id,
        status=status,
        import_id=import_id,
        limit=limit,
        offset=offset,
    )
    return [FailedRecordRead.model_validate(r) for r in rows]


@router.post(
    f"{BASE}/failed-records/{{record_id}}/replay",
    response_model=ReplayResponse,
    responses={
        **error_responses(Unauthorized, Forbidden, NotFound, Conflict, TooManyRequests),
        422: {"model": ReplayResponse, "description": "The record failed again"},
    },
)
def replay_failed_record(
    record_id: uuid.UUID,
    access: WorkspaceIngester,
    session: DbSession,
    runtime: RuntimeDep,
    body: Annotated[ReplayRequest | None, Body()] = None,
) -> JSONResponse:
    """Ingest a failed record again: the corrected `record` given here, or the stored payload
    as it is. Success marks it `replayed` (with the new import's id); another failure keeps it
    `pending` with the new errors and answers 422."""
    failed, result = history.replay_failed_record(
        session,
        settings=runtime.settings,
        workspace_id=access.workspace.id,
        record_id=record_id,
        record=body.record if body else None,
    )
    answer = ReplayResponse(
        failed_record=FailedRecordRead.model_validate(failed),
        result=IngestResponse.model_validate(result.as_dict()),
    )
    return JSONResponse(answer.model_dump(mode="json"), status_code=_status_of(result.as_dict()))
