"""Live updates over Server-Sent Events: each open page watches its workspace's change
marker (newest import, fetch and connection change) and is told to refresh its parts when
it moves, e.g. when a sync lands a new hour. Pages re-fetch over htmx; no data is pushed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from metricx.auth import service as auth_service
from metricx.auth.access import Principal, workspace_access
from metricx.auth.cookies import session_token
from metricx.auth.dependencies import get_runtime
from metricx.errors import NotFound
from metricx.runtime import Runtime
from metricx.web import repository

router = APIRouter(include_in_schema=False)
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 600.0  # the browser reconnects by itself; bounded streams free workers


def _allowed(runtime: Runtime, token: str, workspace_id: uuid.UUID) -> bool:
    """Whether the session's user may watch the workspace (the pages' check, ``auth.access``)."""
    with runtime.sessions() as session:
        found = auth_service.session_user(session, token=token) if token else None
        if found is None:
            return False
        try:
            workspace_access(session, Principal(user=found[0], user_session=found[1]), workspace_id)
        except NotFound:
            return False
        return True


def _marker(runtime: Runtime, workspace_id: uuid.UUID) -> str:
    """The workspace's change marker where the dashboard reads (a read replica's while it
    keeps up): the page refreshes when the change is there to be read, not before."""
    factory, _ = runtime.read_sessions()
    with factory() as session:
        return repository.change_marker(session, workspace_id)


async def changes(
    request: Request, runtime: Runtime, workspace_id: uuid.UUID, interval: float
) -> AsyncIterator[str]:
    last = await anyio.to_thread.run_sync(_marker, runtime, workspace_id)
    yield f"retry: 3000\nevent: hello\ndata: {last}\n\n"
    started = quiet_since = time.monotonic()
    while time.monotonic() - started < STREAM_SECONDS:
        await asyncio.sleep(interval)
        if await request.is_disconnected():
            return
        marker = await anyio.to_thread.run_sync(_marker, runtime, workspace_id)
        if marker != last:
            last = marker
            quiet_since = time.monotonic()
            yield f"event: refresh\ndata: {marker}\n\n"
        elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": keepalive\n\n"


@router.get("/w/{workspace_id}/events")
async def events(workspace_id: uuid.UUID, request: Request) -> Response:
    runtime = get_runtime(request)
    token = session_token(request)
    if not await anyio.to_thread.run_sync(_allowed, runtime, token, workspace_id):
        return Response(status_code=404)
    return StreamingResponse(
        changes(request, runtime, workspace_id, runtime.settings.web_live_poll_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
