"""Metrics syncs of a connection: queue one (or a backfill), and its import records.

The fetch records themselves are listed at ``GET .../connections/{connection_id}/fetches``
(window, API calls, async jobs, rows, revised rows, duration, outcome, error)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body

from metricx.auth.dependencies import DbSession, RuntimeDep, WorkspaceIngester, WorkspaceReader
from metricx.connections import service as connection_service
from metricx.connections.schemas import FetchRead
from metricx.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    error_responses,
)
from metricx.sync import entities, repository, service
from metricx.sync.schemas import ImportList, ImportRead, SyncRequest

router = APIRouter(tags=["sync"])
BASE = "/workspaces/{workspace_id}/connections/{connection_id}"
ERRORS = error_responses(Unauthorized, Forbidden, NotFound)


@router.post(
    BASE + "/sync",
    status_code=202,
    response_model=FetchRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, InvalidInput),
)
def sync_connection(
    connection_id: uuid.UUID,
    access: WorkspaceIngester,
    session: DbSession,
    runtime: RuntimeDep,
    body: SyncRequest | None = Body(default=None),
) -> FetchRead:
    """Queue a metrics sync of the connection; answers its fetch record (status ``queued``),
    committed together with the job. With ``since`` (and optionally ``until``, the ad
    account's local dates) it is a backfill of that range, up to Meta's 37 months. Without a
    range: a connection never synced gets its initial backfill (90 days by default), later
    ones re-read the lookback windows (28 days daily, 3 days hourly); an incremental sync
    already queued or running is returned instead of a second one. Follow the fetch at
    ``.../fetches/{fetch_id}``."""
    connection = repository.connection_in(session, access.workspace.id, connection_id)
    if connection is None:
        raise NotFound("no such connection")
    request = body or SyncRequest()
    fetch = service.request_sync(
        session,
        settings=runtime.settings,
        connection=connection,
        since=request.since,
        until=request.until,
    )
    return FetchRead.model_validate(fetch)


@router.get(BASE + "/imports", response_model=ImportList, responses=ERRORS)
def list_imports(
    connection_id: uuid.UUID,
    access: WorkspaceReader,
    session: DbSession,
    fetch_id: uuid.UUID | None = None,
) -> ImportList:
    """The connection's import records (what each sync wrote: inserted, updated, unchanged,
    failed), newest first; ``fetch_id`` narrows them to one fetch."""
    if repository.connection_in(session, access.workspace.id, connection_id) is None:
        raise NotFound("no such connection")
    rows = repository.imports_of(session, access.workspace.id, connection_id, fetch_id)
    return ImportList(imports=[ImportRead.model_validate(r) for r in rows])


@router.post(
    BASE + "/sync-entities",
    tags=["connections"],
    status_code=202,
    response_model=FetchRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict),
)
def sync_entities(
    connection_id: uuid.UUID, access: WorkspaceIngester, session: DbSession
) -> FetchRead:
    """Queue a sync of the account's campaigns, ad sets and ads. Answers the fetch record
    (status ``queued``); follow it at ``.../fetches/{fetch_id}``."""
    row = connection_service.get_connection(
        session, workspace_id=access.workspace.id, connection_id=connection_id
    )
    return FetchRead.model_validate(entities.request_entity_sync(session, connection=row))
