"""The dashboard's Breakdown menu, as Ads Manager's (By delivery: age, gender, country,
placement, device...): the choices and their wording, what the query layer answers with a
breakdown (its columns; the combinations it refuses, said on the page rather than as an
error), and the answer shaped for the page: a bar chart of one measure per value, the age x
gender grid, and the reconciliation of the breakdown's sum with the unbroken total.

The figures are the query layer's (``breakdown=`` on ``MetricQuery``); the page only sums a
row's base measures when it shows several rows as one (a value over every campaign, or a
count over several currencies), and derives the ratios from those sums as the query layer
does (``metric_row``). Charts are drawn on the server as SVG with attributes (no script, no
inline style: the Content-Security-Policy allows neither)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from metricx.metrics.rows import metric_row
from metricx.metrics.schemas import BASE_MEASURES, GroupRow, MetricQueryResult
from metricx.web import formatting
from metricx.web.countries import COUNTRY_NAMES
from metricx.web.dashboard_view import ANSWERED, COLUMNS, column_value

# Each breakdown field's column heading.
FIELD_LABELS: dict[str, str] = {
    "age": "Age",
    "gender": "Gender",
    "country": "Country",
    "region": "Region",
    "dma": "DMA region",
    "publisher_platform": "Platform",
    "platform_position": "Placement",
    "impression_device": "Impression device",
    "device_platform": "Device platform",
}
# Measures without a currency: summed (or derived) over every currency in one bar or cell.
CURRENCY_FREE = frozenset(
    {"impressions", "clicks", "link_clicks", "ctr", "ctr_link", "conversions", "purchases"}
)
NOT_ANSWERED = "Not available with a breakdown"
ALL = "all"

# Meta's values as Ads Manager shows them; any other value: its words, capitalised.
_VALUE_LABELS: dict[str, str] = {
    "female": "Female",
    "male": "Male",
    "unknown": "Unknown",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "messenger": "Messenger",
    "audience_network": "Audience Network",
    "threads": "Threads",
    "feed": "Feed",
    "instagram_stories": "Instagram Stories",
    "instagram_reels": "Instagram Reels",
    "facebook_reels": "Facebook Reels",
    "facebook_stories": "Facebook Stories",
    "instream_video": "In-stream video",
    "video_feeds": "Video feeds",
    "right_hand_column": "Right column",
    "marketplace": "Marketplace",
    "search": "Search results",
    "story": "Stories",
    "explore": "Explore",
    "explore_home": "Explore home",
    "messenger_inbox": "Messenger Inbox",
    "an_classic": "Native, banner and interstitial",
    "rewarded_video": "Rewarded video",
    "iphone": "iPhone",
    "ipad": "iPad",
    "ipod": "iPod",
    "android_smartphone": "Android smartphone",
    "android_tablet": "Android tablet",
    "desktop": "Desktop",
    "other": "Other",
    "mobile_app": "Mobile app",
    "mobile_web": "Mobile web",
}
# The grid's genders across, in Ads Manager's order (others after them).
GENDERS = ("female", "male", "unknown")


def value_label(value: str) -> str:
    """A breakdown value as Ads Manager shows it: "female" -> Female, "mobile_app" ->
    Mobile app, "US" -> United States; ages and regions as Meta gives them."""
    if value in _VALUE_LABELS:
        return _VALUE_LABELS[value]
    if len(value) == 2 and value in COUNTRY_NAMES:  # an ISO code (ages and genders never are)
        return COUNTRY_NAMES[value]
    if value == "":
        return "(none)"
    if value.islower() and "_" in value:
        words = value.replace("_", " ")
        return words[0].upper() + words[1:]
    return value


def age_order(age: str) -> tuple[int, str]:
    """Ages by their first year ("13-17" before "65+"); anything else ("Unknown") last."""
    found = re.match(r"\d+", age)
    return (int(found.group()), age) if found else (10**6, age)


def gender_order(gender: str) -> tuple[int, str]:
    return (GENDERS.index(gender) if gender in GENDERS else len(GENDERS), gender)


def refusal(breakdown: str, attribution: str) -> str | None:
    """Why the page cannot show this breakdown, in the page's words; None when it can. (The
    granularity and the conversion columns are dropped instead, with a note.)"""
    if breakdown and attribution != "default":
        return (
            "Breakdowns are reported with Meta's default attribution only (each ad set's own"
            " setting): choose it under Attribution to see this breakdown, or choose None"
            " under Breakdown."
        )
    return None


def key_of(row: GroupRow, fields: list[str]) -> tuple[str, ...]:
    if not fields:
        return ()
    # getattr: the query layer's rows without a breakdown carry no such field.
    values: dict[str, str] = getattr(row, "breakdown", None) or {}
    return tuple(values.get(f, "") for f in fields)


def _line(metric: str, currency: str) -> str:
    return ALL if metric in CURRENCY_FREE else currency


def _summed(rows: list[Any], metric: str) -> Any:
    """``metric`` of rows shown as one: a lone row's own figure; several rows' base measures
    summed, the ratio derived from the sums (None where no row reports a base)."""
    if len(rows) == 1:
        return column_value(rows[0], metric)
    acc: dict[str, Any] = {"currency": rows[0].currency if rows else ""}
    for row in rows:
        for m in BASE_MEASURES:
            v = getattr(row, m, None)
            if v is not None:
                acc[m] = acc.get(m, Decimal(0)) + Decimal(str(v))
    return metric_row(acc).get(metric)


def chart_measure(sort: str) -> str:
    """The measure the bars and the grid show: the table's sort column when a breakdown
    answers it, else spend."""
    return sort if sort in ANSWERED else "spend"


@dataclass
class Bar:
    key: str  # the values joined by "|" (the API's group)
    label: str
    value: Any
    share: float  # of the chart's largest bar, 0..1

    @property
    def width(self) -> str:
        """The bar's length in the SVG's 0..100 box."""
        return f"{max(self.share, 0.0) * 100:.2f}"


@dataclass
class BarLine:
    """The bars of one currency (or of every currency, for counts)."""

    currency: str
    bars: list[Bar] = field(default_factory=list)


@dataclass
class BarChart:
    breakdown: str
    metric: str
    label: str
    kind: str
    lines: list[BarLine] = field(default_factory=list)


def _float(value: Any) -> float | None:
    return float(Decimal(str(value))) if value is not None else None


def bar_chart(
    result: MetricQueryResult, fields: list[str], metric: str, sort: str, descending: bool
) -> BarChart:
    """One bar per value (over every row of that value: the campaigns' rows summed when the
    table has one per campaign and value), per currency for money; ordered as the table is:
    by the figure, or by the values when the table is sorted by name."""
    label, kind = COLUMNS[metric]
    chart = BarChart(result.breakdown or "", metric, label, kind)
    per_line: dict[str, dict[tuple[str, ...], list[GroupRow]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for g in result.groups:
        per_line[_line(metric, g.currency)][key_of(g, fields)].append(g)
    for line, per_key in sorted(per_line.items()):
        bars = [
            Bar("|".join(k), ", ".join(value_label(v) for v in k), _summed(rows, metric), 0.0)
            for k, rows in per_key.items()
        ]
        if sort == "name":
            bars.sort(key=lambda b: _natural(b.key), reverse=descending)
        else:
            bars.sort(key=lambda b: _float(b.value) or 0.0, reverse=descending)
            bars.sort(key=lambda b: b.value is None)  # not reported: last
        top = max((abs(_float(b.value) or 0.0) for b in bars), default=0.0)
        for b in bars:
            b.share = (abs(_float(b.value) or 0.0) / top) if top else 0.0
        chart.lines.append(BarLine(line, bars))
    return chart


def _natural(key: str) -> tuple[Any, ...]:
    return tuple(age_order(part) for part in key.split("|"))


@dataclass
class GridCell:
    value: Any
    heat: int  # 0..5: the cell's shade, by its share of the largest cell


@dataclass
class AgeGenderGrid:
    """Ages down, genders across, for one currency (or every currency, for counts); each
    age's and each gender's total at the ends."""

    currency: str
    ages: list[str]
    genders: list[str]
    cells: dict[tuple[str, str], GridCell]
    age_totals: dict[str, Any]
    gender_totals: dict[str, Any]
    total: Any

    def cell(self, age: str, gender: str) -> GridCell | None:
        return self.cells.get((age, gender))


def age_gender_grids(result: MetricQueryResult, metric: str) -> list[AgeGenderGrid]:
    per_line: dict[str, list[GroupRow]] = defaultdict(list)
    for g in result.groups:
        per_line[_line(metric, g.currency)].append(g)
    grids = []
    for line, rows in sorted(per_line.items()):
        by_cell: dict[tuple[str, str], list[GroupRow]] = defaultdict(list)
        for g in rows:
            age, gender = key_of(g, ["age", "gender"])
            by_cell[(age, gender)].append(g)
        ages = sorted({a for a, _ in by_cell}, key=age_order)
        genders = sorted({s for _, s in by_cell}, key=gender_order)
        values = {k: _summed(v, metric) for k, v in by_cell.items()}
        top = max((abs(_float(v) or 0.0) for v in values.values()), default=0.0)
        cells = {
            k: GridCell(v, round(5 * abs(_float(v) or 0.0) / top) if top else 0)
            for k, v in values.items()
        }
        grids.append(
            AgeGenderGrid(
                currency=line,
                ages=ages,
                genders=genders,
                cells=cells,
                age_totals={
                    a: _summed([g for (x, _), gs in by_cell.items() if x == a for g in gs], metric)
                    for a in ages
                },
                gender_totals={
                    s: _summed([g for (_, y), gs in by_cell.items() if y == s for g in gs], metric)
                    for s in genders
                },
                total=_summed(rows, metric),
            )
        )
    return grids


@dataclass
class Reconciled:
    """One line of the reconciliation: the breakdown's sum against the unbroken total."""

    currency: str
    measure: str
    label: str
    kind: str
    breakdown_total: Any
    total: Any
    difference: Any
    relative: float | None
    within_tolerance: bool

    @property
    def relative_text(self) -> str:
        """The difference as a share of the total, signed with a minus sign: "+1.2%", "0.0%"."""
        if self.relative is None:
            return "no total to compare"
        pct = self.relative * 100
        sign = "\u2212" if pct < 0 else "+" if pct > 0 else ""
        return f"{sign}{abs(pct):.1f}%"

    def amount(self, value: Any) -> str:
        if self.kind == "money":
            return formatting.money(value, self.currency)
        return formatting.number(value)


def reconciliation(result: MetricQueryResult) -> list[Reconciled]:
    lines = []
    for item in result.reconciliation:
        measure = item.measure
        label, kind = COLUMNS.get(measure, (measure.replace("_", " ").capitalize(), "count"))
        lines.append(
            Reconciled(
                currency=item.currency,
                measure=measure,
                label=label,
                kind="money" if kind == "money" else "count",
                breakdown_total=item.breakdown_total,
                total=item.total,
                difference=item.difference,
                relative=item.relative,
                within_tolerance=item.within_tolerance,
            )
        )
    return lines
