"""The dashboard's downloads: exactly the table on the page (its rows, columns, order and
totals) or the series behind its chart, as CSV, for the same question (the page's URL)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from metricx.auth.dependencies import DbSession, ReadSession, RuntimeDep
from metricx.errors import InvalidInput
from metricx.metrics.exports import safe_cell, series_csv
from metricx.metrics.schemas import MetricQueryResult
from metricx.metrics.service import UnifiedMetricService
from metricx.web.context import PageWorkspace
from metricx.web.dashboard_breakdown import FIELD_LABELS, key_of
from metricx.web.dashboard_view import ANSWERED, LEVELS, DashboardFilters, column_value, columns_of
from metricx.web.pages_dashboard import ask

router = APIRouter(include_in_schema=False)
WHAT = ("table", "series")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def table_csv(result: MetricQueryResult, filters: DashboardFilters) -> str:
    """The page's table: one row per shown row (in its sort order), then a total per
    currency; the shown columns in their order, raw figures (no rounding, no symbols). A
    results column is followed by its result type ("mixed" where Ads Manager shows none).
    With a breakdown, its fields' values (Meta's, as the API gives them) lead each row, after
    the entity when the table has a row per entity and value; the columns a breakdown does
    not answer are empty, as on the page."""
    columns = columns_of(filters.columns, filters.conversion, filters.picked)
    fields = list(result.breakdown_fields) if filters.breakdown else []
    by_entity = not filters.breakdown or filters.breakdown_rows == "entity"
    lead = [LEVELS[filters.table_level][:-1], "id"] if by_entity else []
    header = [*lead, *(FIELD_LABELS.get(f, f) for f in fields), "currency"]
    for _, label, kind in columns:
        header.append(label)
        if kind == "results":
            header.append("Result type")

    def figures(row: Any) -> list[str]:
        out = []
        for key, _, kind in columns:
            mixed = kind == "results" and getattr(row, "result_type", None) == "mixed"
            blank = mixed or (filters.breakdown and key not in ANSWERED)
            out.append("" if blank else _cell(column_value(row, key)))
            if kind == "results":
                out.append(_cell(getattr(row, "result_type", None)))
        return out

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for g in result.groups:
        entity = [safe_cell(g.name or ""), g.group or ""] if by_entity else []
        values = [safe_cell(v) for v in key_of(g, fields)]
        writer.writerow([*entity, *values, g.currency, *figures(g)])
    for t in result.totals:
        blanks = [""] * (len(lead) + len(fields) - 1)
        writer.writerow(["Total", *blanks, t.currency, *figures(t)])
    return buf.getvalue()


@router.get("/w/{workspace_id}/export.csv")
def export_csv(
    request: Request,
    ws: PageWorkspace,
    session: DbSession,
    reads: ReadSession,
    runtime: RuntimeDep,
) -> Response:
    """``what=table`` (the default) or ``what=series``; the rest is the page's question."""
    what = request.query_params.get("what", "table")
    if what not in WHAT:
        raise InvalidInput("what is 'table' or 'series'", details={"field": "what"})
    service = UnifiedMetricService(reads, clock=runtime.clock, writes=session)
    asked = ask(request, ws, session, runtime, service)
    if asked.result is None:
        raise InvalidInput((asked.problem or "nothing to export").rstrip("."))
    f, result = asked.filters, asked.result
    body = table_csv(result, f) if what == "table" else series_csv(result)
    what_name = f.table_level if what == "table" else "series"
    if what == "table" and f.breakdown:
        what_name += f"-by-{f.breakdown}"
    name = f"metricx-{what_name}-{f.start}-{f.end}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
