"""The dashboard's question (range presets, granularity, time zone, level, drill-down) and
its answer shaped for the page: KPI totals, the chart's series and the sortable table."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from metricx.facts import measures as registry
from metricx.kit.tz import is_valid_timezone
from metricx.metrics.calendar import Preset
from metricx.metrics.compare import combined_totals as combined_totals  # the page's name
from metricx.metrics.rows import metric_row
from metricx.metrics.schemas import (
    BASE_MEASURES,
    Bucket,
    GroupBy,
    GroupLevel,
    MetricQuery,
    MetricQueryResult,
    SeriesOf,
    SeriesPoint,
)

PRESETS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "14d": "Last 14 days",
    "30d": "Last 30 days",
    "this_month": "This month",
    "last_month": "Last month",
    "custom": "Custom range",
}
# The page's range names (kept for links already shared) and the query layer's presets, which
# resolve in each ad account's own zone as Ads Manager does.
RANGE_PRESETS = {
    "today": Preset.TODAY,
    "yesterday": Preset.YESTERDAY,
    "7d": Preset.LAST_7D,
    "14d": Preset.LAST_14D,
    "30d": Preset.LAST_30D,
    "this_month": Preset.THIS_MONTH,
    "last_month": Preset.LAST_MONTH,
}
# What the tiles' changes (and the chart's overlay) compare the range with.
COMPARES = {"previous": "Previous period", "year": "Same period a year before"}
GRANULARITIES = {"minute": "Minute", "hour": "Hour", "day": "Day", "week": "Week", "month": "Month"}
# Granularities a breakdown is not reported in (Meta's breakdown rows are daily).
BY_TIME_OF_DAY = ("hour", "minute")
LEVELS = {"campaign": "Campaigns", "adset": "Ad sets", "ad": "Ads"}


def measure_column(name: str) -> tuple[str, str]:
    """A registry measure's label and kind (money or count)."""
    m = registry.by_name()[name]
    return m.label, "money" if m.format is registry.Format.MONEY else "count"


# metric -> (label, kind): kind picks the formatting and whether currencies may be combined.
METRICS: dict[str, tuple[str, str]] = {
    "spend": measure_column("spend"),
    "impressions": measure_column("impressions"),
    "clicks": measure_column("clicks"),
    "ctr": ("CTR", "percent"),
    "cpc": ("CPC", "money"),
    "cpm": ("CPM", "money"),
    "conversions": measure_column("conversions"),
    "cpa": ("Cost per conversion", "money"),
    "purchase_value": measure_column("purchase_value"),
    "roas": ("ROAS", "multiple"),
}
COMBINABLE = frozenset({"impressions", "clicks", "conversions", "ctr"})


def _label(name: str, fallback: str) -> tuple[str, str]:
    """A registry measure's label and kind; ``fallback`` names a measure the registry does
    not (yet) have, as a count."""
    return measure_column(name) if name in registry.by_name() else (fallback, "count")


# Every table column: metric -> (label, kind). Kinds pick the formatting; "results" shows
# the result type under the count and "mixed" where ad sets count different results.
COLUMNS: dict[str, tuple[str, str]] = {
    "spend": measure_column("spend"),
    "impressions": measure_column("impressions"),
    "reach": ("Reach", "reach"),
    "frequency": ("Frequency", "frequency"),
    "cpm": ("CPM", "money"),
    "clicks": measure_column("clicks"),
    "ctr": ("CTR (all)", "percent"),
    "cpc": ("CPC (all)", "money"),
    "link_clicks": _label("link_clicks", "Link clicks"),
    "ctr_link": ("CTR (link)", "percent"),
    "cpc_link": ("CPC (link)", "money"),
    "landing_page_views": _label("landing_page_views", "Landing page views"),
    "results": (_label("results", "Results")[0], "results"),
    "cost_per_result": ("Cost per result", "money"),
    "purchases": measure_column("purchases"),
    "purchase_value": measure_column("purchase_value"),
    "roas": ("ROAS", "multiple"),
    "conversions": measure_column("conversions"),
    "cpa": ("Cost / conv.", "money"),
    "video_plays": _label("video_plays", "3-second video plays"),
    "thruplays": _label("thruplays", "ThruPlays"),
    "cost_per_thruplay": ("Cost per ThruPlay", "money"),
    "avg_play_time": ("Avg. play time", "seconds"),
}
# Column presets, as Ads Manager's: the first is the page's default.
COLUMN_SETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "performance": (
        "Performance",
        (
            "spend",
            "results",
            "cost_per_result",
            "reach",
            "frequency",
            "impressions",
            "cpm",
            "link_clicks",
            "ctr_link",
            "cpc_link",
        ),
    ),
    "clicks": (
        "Clicks",
        (
            "spend",
            "impressions",
            "clicks",
            "ctr",
            "cpc",
            "link_clicks",
            "ctr_link",
            "cpc_link",
            "landing_page_views",
        ),
    ),
    "conversions": (
        "Conversions",
        (
            "spend",
            "results",
            "cost_per_result",
            "purchases",
            "purchase_value",
            "roas",
            "conversions",
            "cpa",
        ),
    ),
    "video": (
        "Video",
        (
            "spend",
            "impressions",
            "reach",
            "video_plays",
            "thruplays",
            "cost_per_thruplay",
            "avg_play_time",
        ),
    ),
}
# The query API's attribution choice: Meta's default (each ad set's own setting) or a fixed
# set of windows (the sum of those windows' figures).
ATTRIBUTIONS = {
    "default": "Each ad set's setting (Meta's default)",
    "1d_view,7d_click": "7-day click or 1-day view",
    "7d_click": "7-day click",
    "1d_click": "1-day click",
    "1d_click,1d_view": "1-day click or 1-day view",
    "28d_click": "28-day click",
}


def attribution_choices(windows: tuple[str, ...]) -> dict[str, str]:
    """The choices whose windows the server asks Meta for (a setting: Meta retires windows)."""
    return {
        k: v for k, v in ATTRIBUTIONS.items() if k == "default" or set(k.split(",")) <= set(windows)
    }


# The delivery filter, as Ads Manager's: each choice is a set of Meta's effective statuses of
# the rows the table shows (campaigns, ad sets or ads).
DELIVERY: dict[str, tuple[str, tuple[str, ...]]] = {
    "active": ("Active", ("ACTIVE",)),
    "paused": ("Paused", ("PAUSED", "CAMPAIGN_PAUSED", "ADSET_PAUSED")),
    "issues": (
        "Not delivering (issues or review)",
        ("WITH_ISSUES", "DISAPPROVED", "PENDING_REVIEW", "IN_PROCESS", "PENDING_BILLING_INFO"),
    ),
    "archived": ("Archived or deleted", ("ARCHIVED", "DELETED")),
}
# The menu, in Ads Manager's order and wording (its "By delivery" group).
BREAKDOWNS: dict[str, str] = {
    "age": "Age",
    "gender": "Gender",
    "age_gender": "Age and gender",
    "country": "Country",
    "region": "Region",
    "dma": "DMA region",
    "publisher_platform": "Platform",
    "placement": "Placement",
    "platform_device": "Platform and device",
    "impression_device": "Impression device",
    "device_platform": "Device platform",
}
# The table's rows with a breakdown: one per value (over the whole selection), or one per
# campaign (ad set, ad) and value.
ROWS = ("value", "entity")
# The page's columns a breakdown answer has (the rest are blank): Meta's breakdown rows carry
# spend, impressions, clicks, link clicks, conversions, purchases and their value, results.
ANSWERED = frozenset(
    {
        "spend",
        "impressions",
        "clicks",
        "ctr",
        "cpc",
        "cpm",
        "link_clicks",
        "ctr_link",
        "cpc_link",
        "results",
        "cost_per_result",
        "purchases",
        "purchase_value",
        "roas",
        "conversions",
        "cpa",
    }
)
# A column set of the viewer's own picking (``cols``) rather than a preset.
CUSTOM = "custom"
SEARCH_MAX = 100  # characters of a campaign name search
# The table's rows shown at first, and added by "Show more" (METRICX_DASHBOARD_ROWS): a
# month of 1,000 ads rendered whole was a megabyte of HTML and most of the page's time (the
# rows are sorted, the totals and the chart are over every row, the CSV has them all).
ROWS_SHOWN = 100


def columns_of(
    name: str, conversion: str | None = None, picked: tuple[str, ...] = ()
) -> list[tuple[str, str, str]]:
    """(metric, label, kind) of a column set's columns (or the picked ones, in the picker's
    order), then a workspace conversion's."""
    keys = picked if name == CUSTOM and picked else COLUMN_SETS[name][1]
    chosen = [(key, *COLUMNS[key]) for key in keys]
    if conversion:
        chosen += [
            (f"{CONVERSION}count", conversion, "count"),
            (f"{CONVERSION}value", f"{conversion} value", "money"),
            (f"{CONVERSION}cost_per", f"Cost per {conversion}", "money"),
            (f"{CONVERSION}roas", f"{conversion} ROAS", "multiple"),
        ]
    return chosen


# The prefix of a workspace conversion's columns: its figures are the row's ``conversion``.
CONVERSION = "conversion."


def column_value(row: Any, key: str) -> Any:
    """A table cell's value: a row field, or a figure of the row's workspace conversion."""
    if isinstance(row, dict):
        return row.get(key)
    if key.startswith(CONVERSION):
        figures = getattr(row, "conversion", None)
        return getattr(figures, key.removeprefix(CONVERSION), None) if figures else None
    return getattr(row, key, None)


@dataclass
class DashboardFilters:
    range: str = "7d"
    start: date | None = None
    end: date | None = None
    granularity: str = "day"
    timezone: str | None = None  # chosen for hours; None: the accounts' zone (or workspace's)
    level: str = "campaign"
    metric: str = "spend"
    sort: str = "spend"
    order: str = "desc"
    campaign: uuid.UUID | None = None
    adset: uuid.UUID | None = None
    columns: str = "performance"
    attribution: str = "default"
    conversion: str | None = None  # a workspace conversion's name: its columns are added
    compare: str = "previous"  # the tiles' changes: against COMPARES' period
    overlay: bool = False  # the chart draws the compared period's series too
    accounts: list[uuid.UUID] = field(default_factory=list)  # connections; none: every one
    search: str = ""  # campaigns whose name contains it (case-insensitive)
    delivery: str = ""  # a DELIVERY key; "": any status
    picked: tuple[str, ...] = ()  # the custom column set (``columns == CUSTOM``)
    # The campaigns the search found (set by the page): None when there is no search.
    search_ids: list[uuid.UUID] | None = None
    search_capped: int = 0  # the search found more campaigns than the page narrows to
    currency: str = ""  # "": the workspace's reporting currency; "native"; or a code
    breakdown: str = ""  # a BREAKDOWNS key; "": none
    breakdown_rows: str = "value"  # with a breakdown: a row per value, or per entity and value
    rows: int = ROWS_SHOWN  # the table's first rows shown (the totals are over every row)
    page_rows: int = ROWS_SHOWN  # rows shown at first, and added by "Show more"
    # What the page changed in the question to answer it with a breakdown, said on the page.
    adjusted: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: dict[str, str], page_rows: int = ROWS_SHOWN) -> DashboardFilters:
        """The page's question; an unknown time zone raises ``InvalidInput`` (after the rest
        is parsed: the page shows the question without it)."""
        f = cls()
        f.range = params.get("range", "7d") if params.get("range") in PRESETS else "7d"
        f.breakdown = params.get("breakdown", "") if params.get("breakdown") in BREAKDOWNS else ""
        if f.breakdown and params.get("breakdown_rows") in ROWS:
            f.breakdown_rows = params["breakdown_rows"]
        f.granularity = params.get("granularity", "") or (
            "hour" if f.range in ("today", "yesterday") and not f.breakdown else "day"
        )
        if f.granularity not in GRANULARITIES:
            f.granularity = "day"
        if f.breakdown and f.granularity in BY_TIME_OF_DAY:
            f.adjusted.append(
                f"Breakdowns are reported per day: the {f.granularity} granularity is not"
                " available with a breakdown, so the figures cover whole days."
            )
            f.granularity = "day"
        f.level = params.get("level", "campaign") if params.get("level") in LEVELS else "campaign"
        f.metric = params.get("metric", "spend") if params.get("metric") in METRICS else "spend"
        f.sort = params.get("sort", "spend") or "spend"
        f.order = "asc" if params.get("order") == "asc" else "desc"
        f.campaign = _uuid(params.get("campaign"))
        f.adset = _uuid(params.get("adset"))
        if params.get("columns") in COLUMN_SETS:
            f.columns = params["columns"]
        picked = _picked(params.get("cols", ""))
        if params.get("columns") == CUSTOM and picked:
            f.columns, f.picked = CUSTOM, picked
        f.accounts = [u for u in (_uuid(a) for a in params.get("account", "").split(",")) if u]
        f.search = " ".join(params.get("q", "").split())[:SEARCH_MAX].replace("\x00", "")
        f.delivery = params.get("status", "") if params.get("status") in DELIVERY else ""
        if params.get("attribution") in ATTRIBUTIONS:
            f.attribution = params["attribution"]
        f.conversion = params.get("conversion") or None
        if f.breakdown and f.sort not in ANSWERED and f.sort != "name":
            f.sort = "spend"  # a column the breakdown leaves blank
        if params.get("compare") in COMPARES:
            f.compare = params["compare"]
        f.overlay = params.get("overlay") in ("1", "on", "true")
        f.page_rows = page_rows
        f.rows = _rows(params.get("rows"), page_rows)
        f.currency = currency_choice(params.get("currency"))
        if f.range == "custom":
            f.start, f.end = _custom_dates(params)
        tz = params.get("tz") or None
        if tz is not None and not is_valid_timezone(tz):
            raise InvalidTimezone(f, tz)
        f.timezone = tz
        return f

    @property
    def table_level(self) -> str:
        if self.adset:
            return "ad"
        if self.campaign:
            return "adset" if self.level == "campaign" else self.level
        return self.level

    def query(self) -> MetricQuery:
        drill = [i for i in (self.adset or self.campaign,) if i is not None]
        if not drill and self.search_ids:
            drill = list(self.search_ids)
        if self.breakdown:
            # By day (no time chart), without the workspace conversion's columns (a
            # breakdown has none: they stay blank) or series.
            return MetricQuery(
                attribution=None if self.attribution == "default" else self.attribution.split(","),
                start=self.start if self.range == "custom" else None,
                end=self.end if self.range == "custom" else None,
                preset=RANGE_PRESETS.get(self.range),
                granularity=Bucket.DAY,
                timezone=self.timezone,
                level=GroupLevel(self.table_level),
                group_by=GroupBy.ENTITY if self.breakdown_rows == "entity" else GroupBy.NONE,
                entity_ids=drill,
                sort=self.sort,
                descending=self.order == "desc",
                series=SeriesOf.NONE,
                connection_ids=self.accounts,
                statuses=list(DELIVERY[self.delivery][1]) if self.delivery else [],
                currency=self.currency or None,
                breakdown=self.breakdown,
            )
        return MetricQuery(
            attribution=None if self.attribution == "default" else self.attribution.split(","),
            start=self.start if self.range == "custom" else None,
            end=self.end if self.range == "custom" else None,
            preset=RANGE_PRESETS.get(self.range),
            granularity=Bucket(self.granularity),
            timezone=self.timezone,
            level=GroupLevel(self.table_level),
            group_by=GroupBy.ENTITY,
            entity_ids=drill,
            sort=self.sort,
            descending=self.order == "desc",
            conversion=self.conversion,
            series=SeriesOf.TOTAL,  # the chart draws the selection, not each row
            connection_ids=self.accounts,
            statuses=list(DELIVERY[self.delivery][1]) if self.delivery else [],
            currency=self.currency or None,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        values: dict[str, Any] = {
            "range": self.range,
            "granularity": self.granularity,
            "tz": self.timezone,
            "level": self.level,
            "metric": self.metric,
            "sort": self.sort,
            "order": self.order,
            "campaign": self.campaign,
            "adset": self.adset,
            "columns": None if self.columns == "performance" else self.columns,
            "cols": ",".join(self.picked) if self.columns == CUSTOM else None,
            "account": ",".join(str(a) for a in self.accounts),
            "q": self.search,
            "status": self.delivery,
            "attribution": None if self.attribution == "default" else self.attribution,
            "conversion": self.conversion,
            "compare": None if self.compare == "previous" else self.compare,
            "overlay": "1" if self.overlay else None,
            "currency": self.currency or None,
            "breakdown": self.breakdown or None,
            "breakdown_rows": "entity"
            if self.breakdown and self.breakdown_rows == "entity"
            else None,
            "rows": None if self.rows == self.page_rows else self.rows,
        }
        if self.range == "custom":
            values.update(start=self.start, end=self.end)
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    def url(self, base: str, **changes: Any) -> str:
        return f"{base}?{urlencode(self.params(**changes))}"


def _rows(value: str | None, page_rows: int) -> int:
    """The ``rows`` parameter: how many of the table's rows to show, from ``page_rows`` up
    (anything else: ``page_rows``)."""
    if value and value.isascii() and value.isdigit() and len(value) <= 6:
        return max(page_rows, int(value))
    return page_rows


def _picked(value: str) -> tuple[str, ...]:
    """The known columns of a ``cols`` list, each once, in the picker's order."""
    asked = set(value.split(","))
    return tuple(key for key in COLUMNS if key in asked)


def currency_choice(value: str | None) -> str:
    """The page's currency parameter: a 3-letter code or ``native``; anything else: ""."""
    if value == "native" or (
        value and len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()
    ):
        return value
    return ""


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class InvalidTimezone(ValueError):
    """The page named a zone that does not exist: ``filters`` is the rest of its question."""

    def __init__(self, filters: DashboardFilters, name: str) -> None:
        super().__init__(f"Unknown time zone {name!r}: pick one from the list.")
        self.filters = filters


def _custom_dates(params: dict[str, str]) -> tuple[date, date]:
    try:
        start = date.fromisoformat(params.get("start", ""))
        end = date.fromisoformat(params.get("end", ""))
        return (start, end) if start <= end else (end, start)
    except ValueError:
        today = datetime.now(UTC).date()
        return today - timedelta(days=7), today - timedelta(days=1)


@dataclass
class ChartData:
    metric: str
    label: str
    kind: str
    labels: list[str] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)  # each label's bucket (ISO date or instant)

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "label": self.label,
            "kind": self.kind,
            "labels": self.labels,
            "series": self.series,
        }


def axis_label(bucket: str, granularity: str) -> str:
    if granularity in ("hour", "minute"):
        instant = datetime.fromisoformat(bucket)
        return instant.strftime("%H:%M" if granularity == "minute" else "%-d %b %H:%M")
    day = date.fromisoformat(bucket)
    if granularity == "month":
        return day.strftime("%b %Y")
    if granularity == "week":
        return "Week of " + day.strftime("%-d %b")
    return day.strftime("%a %-d %b")


def _sum_bases(points: list[SeriesPoint]) -> dict[str, Any]:
    acc: dict[str, Any] = {"currency": points[0].currency if points else ""}
    for p in points:
        for m in BASE_MEASURES:
            v = getattr(p, m)
            if v is not None:
                acc[m] = acc.get(m, Decimal(0)) + Decimal(str(v))
    return acc


def chart_data(result: MetricQueryResult, metric: str) -> ChartData:
    """One line per currency (amounts in different currencies are never added); counts and
    CTR, which have no currency, are one line over every account."""
    label, kind = METRICS[metric]
    chart = ChartData(metric=metric, label=label, kind=kind)
    buckets = sorted({p.bucket for p in result.series})
    chart.buckets = buckets
    chart.labels = [axis_label(b, result.granularity.value) for b in buckets]
    by_line: dict[str, dict[str, list[SeriesPoint]]] = defaultdict(lambda: defaultdict(list))
    for p in result.series:
        line = "all" if metric in COMBINABLE else p.currency
        by_line[line][p.bucket].append(p)
    for line, per_bucket in sorted(by_line.items()):
        values: list[float | None] = []
        for b in buckets:
            pts = per_bucket.get(b)
            value = metric_row(_sum_bases(pts)).get(metric) if pts else None
            values.append(float(value) if value is not None else None)
        name = label if line == "all" else f"{label} ({line})"
        chart.series.append(
            {"label": name, "currency": None if line == "all" else line, "values": values}
        )
    return chart


@dataclass
class Crumb:
    label: str
    url: str | None
