"""The dashboard: controls, KPI totals, the time-series chart, the sortable table with
drill-down (campaign -> ad set -> ad) and freshness per account; kept live over SSE."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from metricx.auth.dependencies import DbSession, ReadSession, RuntimeDep
from metricx.conversions.service import list_conversions
from metricx.errors import InvalidInput
from metricx.facts.breakdowns import BREAKDOWN_SETS
from metricx.metrics.endpoints import read_state
from metricx.metrics.schemas import SORTABLE, Freshness, MetricQueryResult
from metricx.metrics.service import UnifiedMetricService
from metricx.runtime import Runtime
from metricx.web import repository
from metricx.web.context import PageWorkspace, WorkspaceView
from metricx.web.dashboard_breakdown import (
    FIELD_LABELS,
    NOT_ANSWERED,
    age_gender_grids,
    bar_chart,
    chart_measure,
    key_of,
    reconciliation,
    refusal,
    value_label,
)
from metricx.web.dashboard_compare import Comparison, earlier_period, earlier_query
from metricx.web.dashboard_currency import currency_bar, without_missing_note
from metricx.web.dashboard_view import (
    ANSWERED,
    BREAKDOWNS,
    COLUMN_SETS,
    COLUMNS,
    COMPARES,
    CUSTOM,
    DELIVERY,
    GRANULARITIES,
    LEVELS,
    METRICS,
    PRESETS,
    Crumb,
    DashboardFilters,
    InvalidTimezone,
    attribution_choices,
    chart_data,
    columns_of,
    combined_totals,
)
from metricx.web.templating import is_htmx, render
from metricx.web.timezones import timezone_choices

router = APIRouter(include_in_schema=False)
# Which table columns may be sorted by (the query layer sorts by summed bases and ratios).
SORTABLE_COLUMNS = frozenset(SORTABLE)
MAX_BARS = 30  # a breakdown's bar chart shows the first 30 values; the table has them all


def breadcrumbs(
    ws: WorkspaceView, filters: DashboardFilters, session: DbSession, base: str
) -> list[Crumb]:
    crumbs = [
        Crumb(
            LEVELS[filters.level]
            if not filters.campaign and not filters.adset
            else "All campaigns",
            None,
        )
    ]
    if not (filters.campaign or filters.adset):
        return crumbs
    ids = [i for i in (filters.campaign, filters.adset) if i]
    found = repository.entities_by_id(session, ws.workspace.id, ids)
    adset = found.get(filters.adset) if filters.adset else None
    campaign_id = filters.campaign or (adset.parent_id if adset else None)
    if campaign_id and campaign_id not in found:
        found.update(repository.entities_by_id(session, ws.workspace.id, [campaign_id]))
    crumbs[0].url = filters.url(base, level="campaign", campaign="", adset="")
    if campaign_id:
        campaign = found.get(campaign_id)
        crumbs.append(
            Crumb(
                "Campaign: " + (campaign.name if campaign and campaign.name else "unnamed"),
                filters.url(base, level="campaign", campaign=campaign_id, adset="")
                if adset
                else None,
            )
        )
    if adset:
        crumbs.append(Crumb("Ad set: " + (adset.name or "unnamed"), None))
    return crumbs


def compare(
    service: UnifiedMetricService,
    ws: WorkspaceView,
    filters: DashboardFilters,
    result: MetricQueryResult,
) -> Comparison | None:
    """The same question over the earlier period (``filters.compare``), from the current
    answer's first and last day; None when that period cannot be asked (the answer says why
    on the page: no comparison is shown)."""
    start, end = earlier_period(result.start, result.end, filters.compare)
    try:
        earlier = service.query(ws.workspace, earlier_query(filters.query(), start, end))
    except InvalidInput:
        return None
    return Comparison(filters.compare, COMPARES[filters.compare], start, end, earlier)


def breakdown_context(
    result: MetricQueryResult | None, filters: DashboardFilters
) -> dict[str, Any]:
    """The Breakdown menu's choices and, with a breakdown, its answer shaped for the page:
    the fields (the table's first columns), the bars or the age x gender grid, the
    reconciliation."""
    context: dict[str, Any] = {
        "breakdowns": BREAKDOWNS,
        "breakdown_fields": [],
        "field_labels": FIELD_LABELS,
        "answered": ANSWERED,
        "not_answered": NOT_ANSWERED,
        "value_label": value_label,
        "bars": None,
        "grids": [],
        "reconciled": [],
        "bar_measure": None,
        "max_bars": MAX_BARS,
    }
    if not filters.breakdown or result is None:
        return context
    fields = list(result.breakdown_fields or BREAKDOWN_SETS[filters.breakdown])
    measure = chart_measure(filters.sort)
    context.update(
        breakdown_fields=fields,
        breakdown_key=lambda row: "|".join(key_of(row, fields)),
        bar_measure=measure,
        measure_label=COLUMNS[measure][0],
        measure_kind=COLUMNS[measure][1],
        reconciled=reconciliation(result),
    )
    if filters.breakdown == "age_gender":
        context["grids"] = age_gender_grids(result, measure)
    else:
        context["bars"] = bar_chart(result, fields, measure, filters.sort, filters.order == "desc")
    return context


def freshness_summary(items: list[Freshness]) -> dict[str, Any]:
    synced = [datetime.fromisoformat(f.last_success_at) for f in items if f.last_success_at]
    return {
        "last_updated": max(synced) if synced else None,
        "any_delayed": any(f.delayed for f in items),
    }


def page_params(request: Request) -> dict[str, str]:
    """The page's query parameters; the column picker's ticked boxes (``col``, repeated)
    become one ``cols`` list."""
    params = dict(request.query_params)
    picked = request.query_params.getlist("col")
    if picked:
        params["cols"] = ",".join(picked)
    return params


@dataclass
class Asked:
    """The page's question as parsed (and as answered: its zone and days) and its answer."""

    filters: DashboardFilters
    result: MetricQueryResult | None
    problem: str | None
    status: int
    conversions: list[str]


def ask(
    request: Request,
    ws: WorkspaceView,
    session: Session,
    runtime: Runtime,
    service: UnifiedMetricService,
) -> Asked:
    """Parses the page's question and asks the query layer; a question it cannot answer
    gives the reason (``problem``) and no result."""
    result: MetricQueryResult | None = None
    problem = None
    status = 200
    try:
        filters = DashboardFilters.parse(
            page_params(request), page_rows=runtime.settings.dashboard_rows
        )
    except InvalidTimezone as exc:
        filters, problem, status = exc.filters, str(exc), 400
    if filters.attribution not in attribution_choices(runtime.settings.attribution_windows):
        filters.attribution = "default"
    conversions = [c.name for c in list_conversions(session, workspace_id=ws.workspace.id)]
    if filters.conversion not in conversions:
        filters.conversion = None
    if filters.breakdown and filters.conversion:
        filters.adjusted.append(
            f"The \u201c{filters.conversion}\u201d columns are blank: Meta reports no custom"
            " conversions with breakdowns."
        )
    # A breakdown the query layer cannot answer with the rest of the question: the page says
    # why (a 200, so that htmx shows it in place of the figures).
    problem = problem or refusal(filters.breakdown, filters.attribution)
    known = repository.connection_names(session, ws.workspace.id)
    filters.accounts = [a for a in filters.accounts if a in known]
    if filters.search:
        filters.search_ids = repository.campaigns_matching(
            session, ws.workspace.id, filters.search, filters.accounts
        )
        if len(filters.search_ids) >= repository.SEARCH_LIMIT:
            filters.search_capped = repository.SEARCH_LIMIT
        if not filters.search_ids and problem is None:
            problem = f"No campaign's name contains \u201c{filters.search}\u201d."
    if problem is None:
        try:
            result = service.query(ws.workspace, filters.query())
        except InvalidInput as exc:
            problem = exc.message[0].upper() + exc.message[1:] + "."
            status = 200 if filters.breakdown else 400
    if result is not None:
        filters.start, filters.end = result.start, result.end
    return Asked(filters, result, problem, status, conversions)


@router.get("/w/{workspace_id}")
def dashboard(
    request: Request,
    ws: PageWorkspace,
    session: DbSession,
    reads: ReadSession,
    runtime: RuntimeDep,
) -> Response:
    base = f"/w/{ws.workspace.id}"
    service = UnifiedMetricService(reads, clock=runtime.clock, writes=session)
    asked = ask(request, ws, session, runtime, service)
    filters, result = asked.filters, without_missing_note(asked.result)
    # The question as asked (a saved view's and the downloads' URL), before the answer's
    # zone is filled in.
    query_string = urlencode(filters.params())
    latest = service.latest(ws.workspace, hours=1, timezone=filters.timezone)
    # What the answer covers: its zone for hours, and its first and last day (a preset falls
    # on each account's own dates).
    filters.timezone = result.timezone if result else latest.timezone
    chart = chart_data(result, filters.metric) if result and not filters.breakdown else None
    comparison = compare(service, ws, filters, result) if result else None
    if result is not None and chart is not None and comparison is not None and filters.overlay:
        chart.series += comparison.overlay(chart, result.start)
    accounts = repository.connection_names(session, ws.workspace.id)
    context: dict[str, Any] = {
        "ws": ws,
        "viewer": ws.viewer,
        "section": "dashboard",
        "f": filters,
        "base": base,
        "result": result,
        "problem": asked.problem,
        "chart": chart,
        "combined": combined_totals(result) if result else {},
        "comparison": comparison,
        "compares": COMPARES,
        "chart_json": json.dumps(chart.as_json()) if chart else "",
        "freshness": latest.freshness,
        "fresh": freshness_summary(latest.freshness),
        "crumbs": breadcrumbs(ws, filters, session, base),
        "presets": PRESETS,
        "granularities": GRANULARITIES,
        "levels": LEVELS,
        "rows_step": filters.page_rows,
        "metrics": METRICS,
        "columns": columns_of(filters.columns, filters.conversion, filters.picked),
        "all_columns": COLUMNS,
        "conversions": asked.conversions,
        "column_sets": COLUMN_SETS,
        "custom_columns": CUSTOM,
        "attributions": attribution_choices(runtime.settings.attribution_windows),
        "accounts": accounts,
        "delivery": DELIVERY,
        "campaign_names": repository.campaign_names(session, ws.workspace.id, filters.accounts),
        "views": repository.saved_views(session, ws.workspace.id),
        "sortable": SORTABLE_COLUMNS,
        "reach_status": result.reach_status if result and not filters.breakdown else None,
        "attribution_mixed": bool(getattr(result, "attribution_mixed", False)),
        "zones": timezone_choices(
            filters.timezone,
            ws.workspace.timezone,
            ws.viewer.user.timezone,
            extra=result.account_timezones if result else (),
        ),
        "now": datetime.now(UTC),
        # The "connect an account" card: no account connected and no facts pushed either (a
        # workspace fed only through the ingest API has its dashboard all the same).
        "has_connections": bool(latest.freshness or latest.hours)
        or bool(result and (result.totals or result.groups)),
        "self_url": filters.url(base),
        "query_string": query_string,
        "reads": read_state(runtime, request.state.read_from),
        "fx": currency_bar(result, filters, base, ws.workspace.reporting_currency),
        **breakdown_context(result, filters),
    }
    if is_htmx(request):
        return render(request, "_dashboard.html", asked.status, **context)
    return render(request, "dashboard.html", asked.status, **context)
