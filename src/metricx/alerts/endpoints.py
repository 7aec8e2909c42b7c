"""A workspace's alerts: list (open, or all) and resolve."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from metricx.alerts import service
from metricx.alerts.schemas import AlertList, AlertRead
from metricx.auth.dependencies import DbSession, WorkspaceAdmin, WorkspaceReader
from metricx.errors import Forbidden, NotFound, Unauthorized, error_responses

router = APIRouter(tags=["alerts"])
BASE = "/workspaces/{workspace_id}/alerts"
ERRORS = error_responses(Unauthorized, Forbidden, NotFound)


@router.get(BASE, response_model=AlertList, responses=ERRORS)
def list_alerts(
    access: WorkspaceReader,
    session: DbSession,
    include_resolved: Annotated[bool, Query(description="Resolved alerts too.")] = False,
    kind: Annotated[str | None, Query(description="Only this kind (e.g. stale_data).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertList:
    """The workspace's alerts, most recently seen first. An open alert is one condition
    (kind + key, e.g. a connection) that still holds: ``count`` says how often it was seen.
    Kinds: ``stale_data``, ``sync_failures``, ``ingest_failures``, ``token_expiring``,
    ``connection_needs_reauth``, and data-quality kinds."""
    rows = service.list_alerts(
        session,
        workspace_id=access.workspace.id,
        kind=kind,
        include_resolved=include_resolved,
        limit=limit,
    )
    return AlertList(alerts=[AlertRead.model_validate(r) for r in rows])


@router.post(BASE + "/{alert_id}/resolve", response_model=AlertRead, responses=ERRORS)
def resolve_alert(alert_id: uuid.UUID, access: WorkspaceAdmin, session: DbSession) -> AlertRead:
    """Close an alert by hand (alerts also close by themselves when their condition clears).
    If the condition still holds, the next evaluation opens a new alert."""
    row = service.resolve_by_id(session, workspace_id=access.workspace.id, alert_id=alert_id)
    return AlertRead.model_validate(row)
