"""A report's figures, asked of the query layer like the dashboard asks them: the KPI tiles
(spend and ROAS per currency; impressions, clicks, CTR and conversions over every currency)
with their change against the previous period, and the top campaigns by spend per currency.

Explicit first and last days: each ad account's own calendar days, as the dashboard and the
query API read a date range."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from metricx.metrics.compare import Change, change, combined_totals
from metricx.metrics.schemas import (
    Bucket,
    GroupBy,
    GroupLevel,
    MetricQuery,
    MetricQueryResult,
    SeriesOf,
)
from metricx.metrics.service import UnifiedMetricService
from metricx.models import ReportFrequency, Workspace
from metricx.reports import repository
from metricx.reports.periods import Period

# The dashboard's tiles: key, label, kind. Money and ROAS are per currency.
TILES = (
    ("spend", "Spend", "money"),
    ("impressions", "Impressions", "count"),
    ("clicks", "Clicks (all)", "count"),
    ("ctr", "CTR", "percent"),
    ("conversions", "Conversions", "count"),
    ("roas", "ROAS", "multiple"),
)
PER_CURRENCY = frozenset({"money", "multiple"})
TOP_CAMPAIGNS = 5


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    kind: str
    currency: str | None  # None: over every currency
    value: Any
    change: Change


@dataclass(frozen=True)
class TopCampaign:
    id: str
    name: str
    account: str
    currency: str
    spend: str | None
    conversions: int | None
    roas: float | None
    cpa: str | None


@dataclass(frozen=True)
class Report:
    workspace_id: uuid.UUID
    workspace_name: str
    title: str  # the schedule's name
    frequency: ReportFrequency
    period: Period
    previous: Period
    tiles: list[Tile]
    top_campaigns: list[TopCampaign]
    dashboard_url: str
    notes: list[str]

    @property
    def currencies(self) -> list[str]:
        return sorted({t.currency for t in self.tiles if t.currency})


def _ask(service: UnifiedMetricService, workspace: Workspace, period: Period, by: GroupBy) -> Any:
    query = MetricQuery(
        start=period.start,
        end=period.end,
        granularity=Bucket.MONTH,
        series=SeriesOf.NONE,  # totals and groups only: a report draws no chart
        level=GroupLevel.CAMPAIGN,
        group_by=by,
        sort="spend",
    )
    return service.query(workspace, query)


def tiles_of(current: MetricQueryResult, earlier: MetricQueryResult) -> list[Tile]:
    now_all, before_all = combined_totals(current), combined_totals(earlier)
    before = {t.currency: t for t in earlier.totals}
    tiles = []
    for key, label, kind in TILES:
        if kind not in PER_CURRENCY:
            value, previous = now_all.get(key), before_all.get(key)
            tiles.append(Tile(key, label, kind, None, value, change(key, value, previous)))
            continue
        for t in current.totals:
            value, old = getattr(t, key), before.get(t.currency)
            previous = getattr(old, key) if old is not None else None
            tiles.append(Tile(key, label, kind, t.currency, value, change(key, value, previous)))
    return tiles


def top_campaigns(
    session: Session, workspace: Workspace, result: MetricQueryResult
) -> list[TopCampaign]:
    """The campaigns that spent most, per currency (amounts of currencies are not compared)."""
    chosen: dict[str, list[Any]] = {}
    for g in result.groups:  # sorted by spend, most first
        if g.spend is None or Decimal(g.spend) <= 0:
            continue
        picked = chosen.setdefault(g.currency, [])
        if len(picked) < TOP_CAMPAIGNS:
            picked.append(g)
    rows = [g for c in sorted(chosen) for g in chosen[c]]
    ids = [uuid.UUID(g.group) for g in rows]
    accounts = repository.account_names(session, workspace.id, ids)
    return [
        TopCampaign(
            id=g.group,
            name=g.name or "(unnamed)",
            account=accounts.get(uuid.UUID(g.group), ""),
            currency=g.currency,
            spend=g.spend,
            conversions=g.conversions,
            roas=g.roas,
            cpa=g.cpa,
        )
        for g in rows
    ]


def dashboard_url(base_url: str, workspace_id: uuid.UUID, period: Period) -> str:
    query = urlencode(
        {"range": "custom", "start": period.start.isoformat(), "end": period.end.isoformat()}
    )
    return f"{base_url.rstrip('/')}/w/{workspace_id}?{query}"


def build_report(
    session: Session,
    workspace: Workspace,
    *,
    title: str,
    frequency: ReportFrequency,
    period: Period,
    base_url: str,
    clock: Callable[[], datetime] | None = None,
) -> Report:
    service = UnifiedMetricService(session, clock=clock)
    current = _ask(service, workspace, period, GroupBy.ENTITY)
    # Totals only: grouped by provider, which sums as the campaigns do and asks Meta for no
    # range reach (as the dashboard's comparison does).
    earlier = _ask(service, workspace, period.previous, GroupBy.PROVIDER)
    notes = []
    if len(current.account_timezones) > 1:
        notes.append(
            "Days are each ad account's own calendar days ("
            + ", ".join(current.account_timezones)
            + ")."
        )
    if current.reporting_currency:
        notes.append(
            f"Amounts are converted to {current.reporting_currency} at each day's rate, as on "
            "the dashboard."
        )
    return Report(
        workspace_id=workspace.id,
        workspace_name=workspace.name,
        title=title,
        frequency=frequency,
        period=period,
        previous=period.previous,
        tiles=tiles_of(current, earlier),
        top_campaigns=top_campaigns(session, workspace, current),
        dashboard_url=dashboard_url(base_url, workspace.id, period),
        notes=notes,
    )
