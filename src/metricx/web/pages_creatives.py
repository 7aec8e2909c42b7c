"""The creative gallery: every creative of the workspace with its thumbnail (metricx's own
copy), title, spend, CTR, CPA and ROAS over the page's date range, by spend. It reads the
dashboard's range, accounts, attribution and currency from the query string, so the
dashboard's link opens it on the same question."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from metricx.auth.dependencies import DbSession, ReadSession, RuntimeDep
from metricx.errors import InvalidInput
from metricx.metrics.schemas import Bucket, GroupBy, GroupLevel, MetricQueryResult, SeriesOf
from metricx.metrics.service import UnifiedMetricService
from metricx.web import repository
from metricx.web.context import PageWorkspace
from metricx.web.dashboard_view import PRESETS, DashboardFilters, InvalidTimezone
from metricx.web.pages_dashboard import page_params
from metricx.web.templating import render

router = APIRouter(include_in_schema=False)
GALLERY_LIMIT = 200


@router.get("/w/{workspace_id}/creatives")
def gallery(
    request: Request,
    ws: PageWorkspace,
    session: DbSession,
    reads: ReadSession,
    runtime: RuntimeDep,
) -> Response:
    problem: str | None = None
    status = 200
    try:
        filters = DashboardFilters.parse(page_params(request))
    except InvalidTimezone as exc:
        filters, problem, status = exc.filters, str(exc), 400
    known = repository.connection_names(session, ws.workspace.id)
    filters.accounts = [a for a in filters.accounts if a in known]
    if filters.attribution != "default" and filters.attribution.split(",") != list(
        runtime.settings.attribution_windows
    ):
        filters.attribution = "default"
    query = filters.query().model_copy(
        update={
            "granularity": Bucket.DAY,
            "timezone": None,
            "level": GroupLevel.AD,
            "group_by": GroupBy.CREATIVE,
            "entity_ids": [],
            "statuses": [],
            "conversion": None,
            "sort": "spend",
            "descending": True,
            "series": SeriesOf.NONE,
            "limit": GALLERY_LIMIT,
        }
    )
    result: MetricQueryResult | None = None
    if problem is None:
        service = UnifiedMetricService(reads, clock=runtime.clock, writes=session)
        try:
            result = service.query(ws.workspace, query)
        except InvalidInput as exc:
            problem, status = exc.message[0].upper() + exc.message[1:] + ".", 400
    base = f"/w/{ws.workspace.id}/creatives"
    keep = {
        k: v for k, v in filters.params().items() if k in ("account", "currency", "attribution")
    }
    context: dict[str, Any] = {
        "ws": ws,
        "viewer": ws.viewer,
        "section": "creatives",
        "f": filters,
        "result": result,
        "problem": problem,
        "presets": {k: v for k, v in PRESETS.items() if k != "custom"},
        "range_url": lambda r: f"{base}?{urlencode({**keep, 'range': r})}",
        "dashboard_url": f"/w/{ws.workspace.id}?{urlencode(filters.params())}",
        "limit": GALLERY_LIMIT,
    }
    return render(request, "creatives.html", status, **context)
