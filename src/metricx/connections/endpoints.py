"""Connections of a workspace: add with a token, list, read, pause, resume, disconnect,
reconnect, and entity syncs."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from metricx.auth.dependencies import (
    DbSession,
    RuntimeDep,
    WorkspaceAdmin,
    WorkspaceReader,
)
from metricx.connections import oauth_flow, service
from metricx.connections import repository as repo
from metricx.connections.schemas import (
    BreakdownSetsUpdate,
    ConnectionCreate,
    ConnectionList,
    ConnectionRead,
    FetchRead,
    ReconnectStarted,
)
from metricx.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    UpstreamError,
    error_responses,
)
from metricx.facts.breakdowns import sets_of
from metricx.models import Connection

router = APIRouter(tags=["connections"])
BASE = "/workspaces/{workspace_id}/connections"
ERRORS = error_responses(Unauthorized, Forbidden, NotFound)


def read(row: Connection) -> ConnectionRead:
    return ConnectionRead.model_validate(row).model_copy(
        update={
            "has_token": bool(row.token_id),
            "breakdown_sets": list(sets_of(row.breakdown_sets)),
        }
    )


@router.get(BASE, response_model=ConnectionList, responses=ERRORS)
def list_connections(access: WorkspaceReader, session: DbSession) -> ConnectionList:
    """The workspace's connected ad accounts (disconnected ones too, with their history)."""
    rows = service.list_connections(session, workspace_id=access.workspace.id)
    return ConnectionList(connections=[read(r) for r in rows])


@router.post(
    BASE,
    status_code=201,
    response_model=ConnectionList,
    responses=error_responses(Unauthorized, Forbidden, NotFound, InvalidInput, UpstreamError),
)
def add_connections(
    body: ConnectionCreate, access: WorkspaceAdmin, session: DbSession, runtime: RuntimeDep
) -> ConnectionList:
    """Connect ad accounts with a pasted token (a system user's, for instance). The token is
    checked as the OAuth flow checks it (valid, scopes, expiry, accounts reachable); with no
    accounts named, every account it reaches is connected. An account already connected here
    keeps its connection and gets the new token."""
    rows = service.add_with_token(
        session,
        settings=runtime.settings.interactive(),
        cipher=runtime.cipher,
        workspace_id=access.workspace.id,
        access_token=body.token.get_secret_value(),
        accounts=body.accounts,
        created_by=access.user_id,
    )
    return ConnectionList(connections=[read(r) for r in rows])


@router.get(BASE + "/{connection_id}", response_model=ConnectionRead, responses=ERRORS)
def get_connection(
    connection_id: uuid.UUID, access: WorkspaceReader, session: DbSession
) -> ConnectionRead:
    """One connection."""
    return read(
        service.get_connection(
            session, workspace_id=access.workspace.id, connection_id=connection_id
        )
    )


@router.post(
    BASE + "/{connection_id}/pause",
    response_model=ConnectionRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict),
)
def pause(connection_id: uuid.UUID, access: WorkspaceAdmin, session: DbSession) -> ConnectionRead:
    """Stop scheduled syncs; data and settings stay."""
    return read(
        service.set_paused(
            session, workspace_id=access.workspace.id, connection_id=connection_id, paused=True
        )
    )


@router.post(
    BASE + "/{connection_id}/resume",
    response_model=ConnectionRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict),
)
def resume(connection_id: uuid.UUID, access: WorkspaceAdmin, session: DbSession) -> ConnectionRead:
    """Start scheduled syncs again."""
    return read(
        service.set_paused(
            session, workspace_id=access.workspace.id, connection_id=connection_id, paused=False
        )
    )


@router.put(
    BASE + "/{connection_id}/breakdowns",
    response_model=ConnectionRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def set_breakdowns(
    connection_id: uuid.UUID, body: BreakdownSetsUpdate, access: WorkspaceAdmin, session: DbSession
) -> ConnectionRead:
    """Choose the breakdown sets the connection's syncs fetch (each set costs a report job
    per sync window); unknown names are refused (422)."""
    return read(
        service.set_breakdown_sets(
            session, workspace_id=access.workspace.id, connection_id=connection_id, sets=body.sets
        )
    )


@router.post(BASE + "/{connection_id}/disconnect", response_model=ConnectionRead, responses=ERRORS)
def disconnect(
    connection_id: uuid.UUID, access: WorkspaceAdmin, session: DbSession
) -> ConnectionRead:
    """Stop syncing and forget the token link. Entities, metrics and fetch history stay;
    connecting the same account again brings the same connection back."""
    return read(
        service.disconnect(session, workspace_id=access.workspace.id, connection_id=connection_id)
    )


@router.post(
    BASE + "/{connection_id}/reconnect",
    response_model=ReconnectStarted,
    responses=error_responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def reconnect(
    connection_id: uuid.UUID, access: WorkspaceAdmin, session: DbSession, runtime: RuntimeDep
) -> ReconnectStarted:
    """Renew consent at Meta (needs a signed-in user). Open ``authorize_url`` in the browser;
    the connection keeps its id, history and settings and gets the new token."""
    if access.user_id is None:
        raise Forbidden("reconnecting goes through Meta's dialog: sign in as a user")
    url = oauth_flow.start_authorization(
        session,
        settings=runtime.settings,
        secret_key=runtime.secret_key,
        user_id=access.user_id,
        workspace_id=access.workspace.id,
        reconnect_connection_id=connection_id,
    )
    return ReconnectStarted(authorize_url=url)


@router.get(BASE + "/{connection_id}/fetches", response_model=list[FetchRead], responses=ERRORS)
def list_fetches(
    connection_id: uuid.UUID, access: WorkspaceReader, session: DbSession
) -> list[FetchRead]:
    """The connection's latest fetches, newest first."""
    service.get_connection(session, workspace_id=access.workspace.id, connection_id=connection_id)
    rows = repo.fetches_of(session, access.workspace.id, connection_id)
    return [FetchRead.model_validate(r) for r in rows]


@router.get(
    BASE + "/{connection_id}/fetches/{fetch_id}", response_model=FetchRead, responses=ERRORS
)
def get_fetch(
    connection_id: uuid.UUID, fetch_id: uuid.UUID, access: WorkspaceReader, session: DbSession
) -> FetchRead:
    """One fetch: calls, created/updated/unchanged/removed, duration, outcome."""
    row = repo.fetch(session, access.workspace.id, fetch_id)
    if row is None or row.connection_id != connection_id:
        raise NotFound("no such fetch")
    return FetchRead.model_validate(row)
