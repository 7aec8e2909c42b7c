"""Workspaces: list, create, read, update."""

from __future__ import annotations

from fastapi import APIRouter

from metricx.auth.dependencies import (
    ROLE_SCOPES,
    CurrentUser,
    DbSession,
    WorkspaceAdmin,
    WorkspaceMember,
)
from metricx.errors import Forbidden, InvalidInput, NotFound, Unauthorized, error_responses
from metricx.workspaces import service
from metricx.workspaces.schemas import WorkspaceCreate, WorkspaceRead, WorkspaceUpdate

router = APIRouter(tags=["workspaces"])


@router.get(
    "/workspaces", response_model=list[WorkspaceRead], responses=error_responses(Unauthorized)
)
def list_workspaces(user: CurrentUser, session: DbSession) -> list[WorkspaceRead]:
    """The signed-in user's workspaces, with their role in each."""
    return [
        WorkspaceRead.model_validate(ws).model_copy(
            update={"role": m.role.value, "scopes": sorted(ROLE_SCOPES[m.role])}
        )
        for ws, m in service.workspaces_of(session, user_id=user.id)
    ]


@router.post(
    "/workspaces",
    status_code=201,
    response_model=WorkspaceRead,
    responses=error_responses(Unauthorized, InvalidInput),
)
def create_workspace(body: WorkspaceCreate, user: CurrentUser, session: DbSession) -> WorkspaceRead:
    """Create a workspace; the signed-in user becomes its owner."""
    ws = service.create_workspace(
        session,
        name=body.name,
        owner_id=user.id,
        timezone=body.timezone,
        week_start=body.week_start,
    )
    return WorkspaceRead.model_validate(ws).model_copy(update={"role": "owner"})


@router.get(
    "/workspaces/{workspace_id}",
    response_model=WorkspaceRead,
    responses=error_responses(Unauthorized, NotFound),
)
def get_workspace(access: WorkspaceMember) -> WorkspaceRead:
    """The workspace. Also the probe of an API key's reach: another workspace's id answers 404
    exactly as a missing one does."""
    return WorkspaceRead.model_validate(access.workspace).model_copy(
        update={
            "role": access.role.value if access.role else None,
            "scopes": sorted(access.scopes),
        }
    )


@router.patch(
    "/workspaces/{workspace_id}",
    response_model=WorkspaceRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def update_workspace(
    body: WorkspaceUpdate, access: WorkspaceAdmin, session: DbSession
) -> WorkspaceRead:
    """Rename the workspace, change its time zone (it shows hour buckets, and dates facts
    pushed without a connection; each ad account's days stay its own), its week start, or
    its reporting currency (``""`` for none)."""
    ws = service.update_workspace(
        session,
        workspace=access.workspace,
        name=body.name,
        timezone=body.timezone,
        week_start=body.week_start,
        reporting_currency=body.reporting_currency,
    )
    return WorkspaceRead.model_validate(ws)
