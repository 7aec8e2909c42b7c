"""Comparing a period with an earlier one: which period, and one figure's change against it.

Used by the dashboard's tiles and the scheduled reports alike. Money stays per currency: a
figure in USD is compared with the earlier period's USD only; counts and CTR are taken over
every currency (``combined_totals``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from metricx.metrics.rows import metric_row
from metricx.metrics.schemas import BASE_MEASURES, MetricQueryResult

DASH = "\u2013"  # an en dash: no figure

# Figures whose going up is bad news (costs), and those that are neither good nor bad.
COST_KEYS = frozenset(
    {"cpc", "cpm", "cpa", "cpc_link", "cost_per_result", "cost_per_thruplay", "conversion.cost_per"}
)
NEUTRAL_KEYS = frozenset({"spend", "frequency"})


def earlier_period(start: date, end: date, mode: str) -> tuple[date, date]:
    """The period compared with [start, end] (inclusive): the same number of days just
    before it, or the same days a year before (29 February falls on the 28th)."""
    length = end - start
    if mode == "year":
        try:
            first = start.replace(year=start.year - 1)
        except ValueError:  # 29 February
            first = start.replace(year=start.year - 1, day=28)
        return first, first + length
    last = start - timedelta(days=1)
    return last - length, last


@dataclass(frozen=True)
class Change:
    """One figure against the earlier period's."""

    previous: Any  # the earlier period's figure (None: none)
    ratio: float | None  # (current - previous) / previous; None: nothing to divide by
    direction: str  # up, down, flat or none
    tone: str  # good, bad or neutral

    @property
    def text(self) -> str:
        if self.ratio is None:
            return "no figure before" if self.previous is None else DASH
        arrow = {"up": "▲ ", "down": "▼ "}.get(self.direction, "")
        return f"{arrow}{abs(self.ratio) * 100:.1f}%"


def change(key: str, current: Any, previous: Any) -> Change:
    if current is None or previous is None:
        return Change(previous, None, "none", "neutral")
    now, before = Decimal(str(current)), Decimal(str(previous))
    if before == 0:
        return Change(previous, None, "up" if now > 0 else "flat", "neutral")
    ratio = float((now - before) / abs(before))
    direction = "up" if ratio > 0.0005 else "down" if ratio < -0.0005 else "flat"
    if direction == "flat" or key in NEUTRAL_KEYS:
        tone = "neutral"
    else:
        tone = "good" if (direction == "up") != (key in COST_KEYS) else "bad"
    return Change(previous, ratio, direction, tone)


def combined_totals(result: MetricQueryResult) -> dict[str, Any]:
    """Counts and CTR over every currency (they have none); money stays per currency."""
    acc: dict[str, Any] = {"currency": ""}
    for t in result.totals:
        for m in BASE_MEASURES:
            v = getattr(t, m)
            if v is not None:
                acc[m] = acc.get(m, Decimal(0)) + Decimal(str(v))
    return metric_row(acc)
