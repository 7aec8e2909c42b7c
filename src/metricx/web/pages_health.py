"""Data health: open alerts and validation findings, ads known only from insights, sync
history (fetches and imports), and failed records with a replay button."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from metricx.alerts.service import list_alerts
from metricx.auth.dependencies import DbSession, RuntimeDep
from metricx.errors import Forbidden, MetricxError
from metricx.ingest import history
from metricx.models import FailedRecordStatus
from metricx.quality.service import UNLISTED_ADS_NOTE, unlisted_ads
from metricx.web import repository
from metricx.web.context import CsrfViewer, PageWorkspace, WorkspaceView
from metricx.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)


def _context(ws: WorkspaceView, session: DbSession) -> dict[str, Any]:
    alerts = list_alerts(session, workspace_id=ws.workspace.id, include_resolved=True, limit=50)
    return {
        "ws": ws,
        "viewer": ws.viewer,
        "section": "health",
        "tz": ws.timezone,
        "open_alerts": [a for a in alerts if a.resolved_at is None],
        "resolved_alerts": [a for a in alerts if a.resolved_at is not None][:10],
        "fetches": repository.recent_fetches(session, ws.workspace.id, limit=30),
        "imports": history.list_imports(session, workspace_id=ws.workspace.id, limit=30),
        "failed": history.list_failed_records(
            session, workspace_id=ws.workspace.id, status=FailedRecordStatus.PENDING, limit=50
        ),
        "unlisted_ads": unlisted_ads(session, workspace_id=ws.workspace.id, limit=200),
        "unlisted_note": UNLISTED_ADS_NOTE,
        "names": repository.connection_names(session, ws.workspace.id),
        "notice": None,
        "notice_tone": "ok",
    }


@router.get("/w/{workspace_id}/health")
def health_page(request: Request, ws: PageWorkspace, session: DbSession) -> Response:
    context = _context(ws, session)
    if is_htmx(request):
        return render(request, "_health.html", **context)
    return render(request, "health.html", **context)


@router.post("/w/{workspace_id}/health/failed-records/{record_id}/replay")
def replay(
    request: Request,
    record_id: uuid.UUID,
    ws: PageWorkspace,
    _viewer: CsrfViewer,
    session: DbSession,
    runtime: RuntimeDep,
) -> Response:
    """Ingest a failed record again as it was stored (after the cause was fixed upstream)."""
    notice, tone = "", "ok"
    try:
        if not ws.can_ingest:
            raise Forbidden("replaying records needs the 'ingest' permission")
        failed, result = history.replay_failed_record(
            session, settings=runtime.settings, workspace_id=ws.workspace.id, record_id=record_id
        )
        if result.failed == 0:
            notice = f"Record {failed.record_index + 1} was ingested."
        else:
            reasons = "; ".join(str(e.get("reason", "")) for e in failed.errors[:3])
            notice, tone = f"The record still fails: {reasons}.", "error"
    except MetricxError as exc:
        session.rollback()
        notice, tone = exc.message[0].upper() + exc.message[1:], "error"
    if not is_htmx(request):
        return RedirectResponse(f"/w/{ws.workspace.id}/health", status_code=303)
    context = _context(ws, session)
    context.update(notice=notice, notice_tone=tone)
    return render(request, "_health.html", **context)
