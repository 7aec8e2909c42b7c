"""The Connections page: connect Meta Ads (a dialog leading into the OAuth flow), and per ad
account its token and sync state with Sync now, Backfill, Pause/Resume, Disconnect and
Reconnect."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from metricx.auth.dependencies import DbSession, RuntimeDep
from metricx.connections import service as connections
from metricx.errors import InvalidInput, MetricxError
from metricx.kit.inputs import Text
from metricx.sync import entities as entity_sync
from metricx.web.connection_view import connection_cards
from metricx.web.context import CsrfViewer, PageWorkspace, WorkspaceView
from metricx.web.sync_bridge import request_sync
from metricx.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)
ACTIONS = ("sync", "backfill", "pause", "resume", "disconnect", "sync-entities")
MAX_BACKFILL_DAYS = 37 * 31  # Meta keeps 37 months of insights
# ``?connect=`` on the page: how the last round trip through Meta's dialog ended.
CONNECT_NOTICES = {
    "cancelled": "Meta's dialog was cancelled, so nothing was connected. "
    "Connect Meta Ads again whenever you are ready.",
}


def authorize_url(ws: WorkspaceView, connection_id: uuid.UUID | None = None) -> str:
    query = {"workspace_id": str(ws.workspace.id)}
    if connection_id is not None:
        query["connection_id"] = str(connection_id)
    return "/api/v1/auth/meta/authorize?" + urlencode(query)


def _list(
    request: Request,
    ws: WorkspaceView,
    session: DbSession,
    runtime: RuntimeDep,
    notice: str | None = None,
    notice_tone: str = "ok",
) -> Response:
    cards = connection_cards(session, ws.workspace.id, runtime.settings.token_expiry_warning_days)
    return render(
        request,
        "_connections_list.html",
        ws=ws,
        viewer=ws.viewer,
        cards=cards,
        notice=notice,
        notice_tone=notice_tone,
        authorize_url=authorize_url,
        today=date.today(),
        tz=ws.timezone,
    )


@router.get("/w/{workspace_id}/connections")
def connections_page(
    request: Request,
    ws: PageWorkspace,
    session: DbSession,
    runtime: RuntimeDep,
    connect: str | None = None,
) -> Response:
    if is_htmx(request):
        return _list(request, ws, session, runtime)
    cards = connection_cards(session, ws.workspace.id, runtime.settings.token_expiry_warning_days)
    return render(
        request,
        "connections.html",
        ws=ws,
        viewer=ws.viewer,
        section="connections",
        cards=cards,
        notice=None,
        notice_tone="ok",
        connect_notice=CONNECT_NOTICES.get(connect or ""),
        authorize_url=authorize_url,
        meta_configured=bool(runtime.settings.meta_app_id),
        today=date.today(),
        tz=ws.timezone,
    )


@router.post("/w/{workspace_id}/connections/{connection_id}/{action}")
def connection_action(
    request: Request,
    connection_id: uuid.UUID,
    action: str,
    ws: PageWorkspace,
    _viewer: CsrfViewer,
    session: DbSession,
    runtime: RuntimeDep,
    since: Annotated[Text, Form()] = "",
) -> Response:
    """One button of an account card; answers the refreshed list (htmx) or the page."""
    tone = "ok"
    try:
        if action not in ACTIONS:
            raise InvalidInput(f"unknown action {action!r}")
        if action != "sync":
            ws.require_admin()
        row = connections.get_connection(
            session, workspace_id=ws.workspace.id, connection_id=connection_id
        )
        if action == "sync":
            request_sync(session, settings=runtime.settings, connection=row)
            notice = f"Sync of {row.name} started."
        elif action == "backfill":
            start = _backfill_start(since)
            request_sync(session, settings=runtime.settings, connection=row, since=start)
            notice = f"Backfill of {row.name} from {start:%-d %b %Y} started."
        elif action == "sync-entities":
            entity_sync.request_entity_sync(session, connection=row)
            notice = f"Refreshing the campaigns of {row.name}."
        elif action in ("pause", "resume"):
            connections.set_paused(
                session,
                workspace_id=ws.workspace.id,
                connection_id=connection_id,
                paused=action == "pause",
            )
            notice = f"{row.name} is {'paused' if action == 'pause' else 'syncing again'}."
        else:
            connections.disconnect(
                session, workspace_id=ws.workspace.id, connection_id=connection_id
            )
            notice = f"{row.name} is disconnected. Its data stays; reconnect at any time."
    except MetricxError as exc:
        session.rollback()
        notice, tone = exc.message[0].upper() + exc.message[1:], "error"
    if is_htmx(request):
        return _list(request, ws, session, runtime, notice=notice, notice_tone=tone)
    return RedirectResponse(f"/w/{ws.workspace.id}/connections", status_code=303)


def _backfill_start(since: str) -> date:
    try:
        start = date.fromisoformat(since)
    except ValueError:
        raise InvalidInput("choose the date the backfill starts from") from None
    today = date.today()
    if start > today:
        raise InvalidInput("a backfill starts in the past; choose an earlier date")
    if (today - start) > timedelta(days=MAX_BACKFILL_DAYS):
        raise InvalidInput("Meta keeps 37 months of performance; choose a later date")
    return start
