"""The dashboard's comparison: the same question over an earlier period of the same length
(the days just before, or the same days a year before), its change on every KPI tile and its
series for the chart's overlay.

The earlier period is asked of the query layer like any other: explicit first and last days,
each account's own calendar days, as the current answer resolved them (a preset falls on each
account's own dates; the comparison shifts the answer's first and last day). Money stays per
currency: a tile in USD is compared with the earlier period's USD only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from metricx.metrics.compare import Change, change, combined_totals
from metricx.metrics.compare import earlier_period as earlier_period  # the page's name
from metricx.metrics.schemas import GroupBy, MetricQuery, MetricQueryResult
from metricx.web.dashboard_view import ChartData, chart_data, column_value

DASH_RANGE = " \u2013 "


def earlier_query(query: MetricQuery, start: date, end: date) -> MetricQuery:
    """The page's question over [start, end]: totals and series only (grouped by provider,
    which sums like the page's totals and asks Meta for no range reach; with a breakdown,
    which has no provider rows, its values' totals)."""
    group_by = GroupBy.NONE if query.breakdown else GroupBy.PROVIDER
    return query.model_copy(
        update={"start": start, "end": end, "preset": None, "group_by": group_by}
    )


@dataclass
class Comparison:
    mode: str
    label: str
    start: date
    end: date
    result: MetricQueryResult

    def of(self, key: str, current: Any, currency: str | None = None) -> Change:
        """A tile's change: ``currency`` for money (compared with that currency's total
        only), None for figures over every currency (counts, CTR)."""
        if currency is None:
            return change(key, current, combined_totals(self.result).get(key))
        for t in self.result.totals:
            if t.currency == currency:
                return change(key, current, column_value(t, key))
        return change(key, current, None)

    def overlay(self, current: ChartData, current_start: date) -> list[dict[str, Any]]:
        """The earlier period's lines for the chart, dashed, aligned with the current ones by
        position in the period: day n (or hour n) of the earlier period under day n of the
        current one; weeks and months by their order."""
        earlier = chart_data(self.result, current.metric)
        shift = current_start - self.start
        where: dict[str, int] = {}  # an earlier bucket -> the current chart's position
        if self.result.granularity.value in ("day", "hour", "minute"):
            positions = {_wall(b): i for i, b in enumerate(current.buckets)}
            for b in earlier.buckets:
                moved = _shifted(b, shift)
                if moved in positions:
                    where[b] = positions[moved]
        else:
            where = {b: i for i, b in enumerate(earlier.buckets) if i < len(current.buckets)}
        period = f"{self.start:%-d %b %Y}{DASH_RANGE}{self.end:%-d %b %Y}"
        lines = []
        for s in earlier.series:
            values: list[float | None] = [None] * len(current.buckets)
            for b, v in zip(earlier.buckets, s["values"], strict=True):
                if b in where:
                    values[where[b]] = v
            lines.append(
                {
                    "label": f"{s['label']}, {period}",
                    "currency": s["currency"],
                    "values": values,
                    "compare": True,
                }
            )
        return lines


def _wall(bucket: str) -> str:
    """A bucket's date, or its instant's local wall-clock time (without the offset, which
    a change to or from summer time moves)."""
    return bucket[:19]


def _shifted(bucket: str, shift: timedelta) -> str:
    """A day (ISO date) or an instant's wall-clock time ``shift`` later: hour n of a day
    under hour n of the day ``shift`` later."""
    if len(bucket) == 10:
        return (date.fromisoformat(bucket) + shift).isoformat()
    return (datetime.fromisoformat(_wall(bucket)) + shift).isoformat()
