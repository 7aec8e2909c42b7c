"""Querying metrics: time series, totals, top-N, CSV export, and the live latest hours."""

from __future__ import annotations

import math
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, WithJsonSchema

from metricx.auth.dependencies import DbSession, ReadSession, RuntimeDep, WorkspaceReader
from metricx.errors import Forbidden, InvalidInput, NotFound, Unauthorized, error_responses
from metricx.facts.breakdowns import BREAKDOWN_SETS
from metricx.kit.inputs import IsoDate, ZoneName
from metricx.metrics.actions_query import parse_action_types, parse_attribution
from metricx.metrics.calendar import Preset
from metricx.metrics.exports import breakdown_csv, series_csv
from metricx.metrics.schemas import (
    SORTABLE,
    Bucket,
    GroupBy,
    GroupLevel,
    LatestResult,
    MetricQuery,
    MetricQueryResult,
    ReadState,
    SeriesOf,
)
from metricx.metrics.service import UnifiedMetricService
from metricx.runtime import Runtime

router = APIRouter(tags=["metrics"])
ERRORS = error_responses(Unauthorized, Forbidden, NotFound, InvalidInput)


@router.get(
    "/workspaces/{workspace_id}/metrics/query",
    response_model=MetricQueryResult,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
)
def query_metrics(
    access: WorkspaceReader,
    session: DbSession,
    reads: ReadSession,
    runtime: RuntimeDep,
    start: Annotated[
        IsoDate | None, Query(description="First day (each ad account's own date).")
    ] = None,
    end: Annotated[IsoDate | None, Query(description="Last day (inclusive).")] = None,
    preset: Annotated[
        Preset | None,
        Query(description="Instead of start and end: resolved in each ad account's zone."),
    ] = None,
    granularity: Bucket = Bucket.DAY,
    timezone: Annotated[
        ZoneName | None,
        Query(
            description="IANA zone for hour and minute buckets: the accounts' zone when they "
            "share one, else the workspace's."
        ),
    ] = None,
    level: GroupLevel = GroupLevel.CAMPAIGN,
    group_by: GroupBy = GroupBy.NONE,
    connection_id: Annotated[list[uuid.UUID] | None, Query()] = None,
    provider: Annotated[list[str] | None, Query()] = None,
    entity_id: Annotated[list[uuid.UUID] | None, Query()] = None,
    status: Annotated[list[str] | None, Query(description="Effective statuses.")] = None,
    sort: Annotated[str, WithJsonSchema({"type": "string", "enum": [*SORTABLE]})] = "spend",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    series: Annotated[
        SeriesOf,
        Query(
            description="group: a series per group (default); total: one line over every "
            "group of the selection (per currency, whatever the limit), as a chart of the "
            "selection draws it; none: no series."
        ),
    ] = SeriesOf.GROUP,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    attribution: Annotated[
        str,
        Query(
            max_length=200,
            description="default (each ad set's own attribution setting, as Ads Manager) or "
            "windows summed for every ad set, e.g. 7d_click,1d_view (the server's "
            "METRICX_META_ATTRIBUTION_WINDOWS). Applies to purchases, purchase value, leads, "
            "conversions and the action and conversion columns.",
        ),
    ] = "default",
    actions: Annotated[
        list[str] | None,
        Query(
            description="Action types (comma-separated or repeated) to add as columns: "
            "count, value, cost per; custom conversions are named."
        ),
    ] = None,
    conversion: Annotated[
        str | None,
        Query(max_length=200, description="A workspace conversion's name: its columns."),
    ] = None,
    currency: Annotated[
        str | None,
        Query(
            pattern="^([A-Z]{3}|native)$",
            description="Convert amounts to this currency (ISO 4217), each day at that day's "
            "rate; native: per currency. Unset: the workspace's reporting currency, if any.",
        ),
    ] = None,
    breakdown: Annotated[
        str | None,
        Query(
            max_length=32,
            description="Split the rows by a breakdown set, as Ads Manager's Breakdown menu: "
            + ", ".join(BREAKDOWN_SETS)
            + ". Daily data only; group_by none or entity; rows carry `breakdown` (their "
            "values) and the answer `reconciliation` (the values' sum against the total).",
        ),
        WithJsonSchema({"type": "string", "enum": [*BREAKDOWN_SETS]}),
    ] = None,
) -> MetricQueryResult | Response:
    """A time series and totals for a date range (``start``/``end``) or a ``preset``.

    Days are each ad account's own calendar days, as in Ads Manager: day, week and month
    buckets and the date range keep each account's facts by its local dates, whatever the
    view's zone; a preset (today, yesterday, last_7d...) resolves in each account's zone, and
    ``ranges`` says which dates that gave. Hour and minute buckets are instants shown in
    ``timezone``, DST-correct. Weeks start on the workspace's ``week_start``.
    ``group_by=entity`` groups by the entities at ``level`` (campaigns, ad
    sets, ads, accounts); ``sort``/``order``/``limit`` give a top-N. Ratios (CTR, CPC, CPM,
    CPA, ROAS, conversion rate, cost per lead) come from summed bases; a zero denominator
    gives null. Every row has a currency: amounts in different currencies are never added,
    unless a reporting currency is in force (``currency=``, else the workspace's): then each
    day's amounts are converted at that day's rate and summed, converted rows are marked,
    and a currency and day without a rate is listed in ``missing_rates`` and left
    unconverted (never guessed). ``format=csv`` returns the series as CSV."""
    q = MetricQuery(
        start=start,
        end=end,
        preset=preset,
        granularity=granularity,
        timezone=timezone,
        level=level,
        group_by=group_by,
        connection_ids=connection_id or [],
        providers=provider or [],
        entity_ids=entity_id or [],
        statuses=status or [],
        sort=sort,
        descending=order == "desc",
        limit=limit,
        series=series,
        attribution=parse_attribution(attribution, runtime.settings.attribution_windows),
        actions=list(parse_action_types(actions)),
        conversion=conversion,
        currency=currency,
        breakdown=breakdown,
    )
    service = UnifiedMetricService(
        reads,
        clock=runtime.clock,
        writes=session,
        breakdown_tolerance=runtime.settings.breakdown_tolerance,
    )
    result = service.query(access.workspace, q)
    if format == "csv":
        table = breakdown_csv(result) if breakdown else series_csv(result)
        return Response(table, media_type="text/csv")
    return as_json(result)


def read_state(runtime: Runtime, read_from: str) -> ReadState:
    lag = runtime.reads.lag_seconds() if runtime.reads is not None else None
    return ReadState(
        read_from=read_from,
        replica_lag_seconds=None if lag is None or math.isinf(lag) else round(lag, 3),
        replica_reachable=None if lag is None else not math.isinf(lag),
    )


def as_json(answer: BaseModel) -> Response:
    """The answer serialized here, in the endpoint's worker thread: FastAPI would serialize a
    returned model on the event loop, which an ad-level series (thousands of points, MBs of
    JSON) held for tens of milliseconds while every other request waited."""
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get(
    "/workspaces/{workspace_id}/metrics/latest",
    response_model=LatestResult,
    responses=ERRORS,
)
def latest_metrics(
    request: Request,
    access: WorkspaceReader,
    reads: ReadSession,
    runtime: RuntimeDep,
    hours: Annotated[int, Query(ge=1, le=72)] = 6,
    timezone: ZoneName | None = None,
) -> Response:
    """The newest hours of the workspace and each connection's data freshness (when it was
    last synced, its newest hour with data, and whether that is delayed); ``reads`` says
    which server answered (a read replica, and how far behind, when one is configured)."""
    latest = UnifiedMetricService(reads).latest(access.workspace, hours=hours, timezone=timezone)
    latest.reads = read_state(runtime, request.state.read_from)
    return as_json(latest)
