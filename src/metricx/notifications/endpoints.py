"""A workspace's notification channels: a Slack-compatible webhook or SMTP e-mail."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from metricx.auth.dependencies import DbSession, RuntimeDep, WorkspaceAdmin, WorkspaceReader
from metricx.errors import Forbidden, InvalidInput, NotFound, Unauthorized, error_responses
from metricx.models import NotificationChannel
from metricx.notifications import service
from metricx.notifications.schemas import ChannelCreate, ChannelList, ChannelRead

router = APIRouter(tags=["notifications"])
BASE = "/workspaces/{workspace_id}/notification-channels"
ERRORS = error_responses(Unauthorized, Forbidden, NotFound)


def read(row: NotificationChannel) -> ChannelRead:
    return ChannelRead(
        id=row.id,
        kind=row.kind.value,
        name=row.name,
        enabled=row.enabled,
        config=row.config,
        has_secret=row.secret_enc is not None,
        created_at=row.created_at,
    )


@router.get(BASE, response_model=ChannelList, responses=ERRORS)
def list_channels(access: WorkspaceReader, session: DbSession) -> ChannelList:
    """Where this workspace's alerts are sent. Secrets (webhook URL, SMTP password) are never
    returned."""
    rows = service.list_channels(session, workspace_id=access.workspace.id)
    return ChannelList(channels=[read(r) for r in rows])


@router.post(
    BASE,
    status_code=201,
    response_model=ChannelRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def create_channel(
    body: ChannelCreate, access: WorkspaceAdmin, session: DbSession, runtime: RuntimeDep
) -> ChannelRead:
    """Add a channel. Every alert that opens from now on is sent to it once, and once more
    when it resolves; failed sends are retried with backoff. The webhook URL or SMTP password
    is stored encrypted. The webhook's or SMTP server's host must resolve to public
    addresses only (loopback, private, link-local, unique-local, multicast and metadata
    addresses answer 422) unless the operator allows it (``METRICX_NOTIFY_ALLOWED_HOSTS``)."""
    row = service.create_channel(
        session,
        settings=runtime.settings,
        cipher=runtime.cipher,
        workspace_id=access.workspace.id,
        body=body,
    )
    return read(row)


@router.delete(BASE + "/{channel_id}", status_code=204, responses=ERRORS)
def delete_channel(channel_id: uuid.UUID, access: WorkspaceAdmin, session: DbSession) -> Response:
    """Remove a channel (pending sends to it are dropped)."""
    service.delete_channel(session, workspace_id=access.workspace.id, channel_id=channel_id)
    return Response(status_code=204)
