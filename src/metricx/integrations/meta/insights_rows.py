"""Meta's insights rows as typed values: the one place that reads an insights row's keys.

- An ad's daily row: spend, impressions, clicks, reach, the four action measures
  (actions.py's mapping table), link clicks (``inline_link_clicks``), outbound clicks, landing
  page views and post engagement (from ``actions``), video (3-second plays are the
  ``video_view`` action; ThruPlays and the watched percentages come from their
  ``video_*_watched_actions`` lists; watch seconds are the average play time, in whole
  seconds, times the plays) and the row's attribution setting. A field Meta leaves out is 0
  (it omits empty lists). The result of the ad's ad set is read with ``result``
  (results.py's mapping table).
- An ad's hourly row (``hourly_stats_aggregated_by_advertiser_time_zone`` with
  ``time_increment=1``): a local date and a local hour of the account's time zone; Meta has no
  hourly reach and no off-Meta actions by the hour, and refuses video fields with hourly
  breakdowns (error #100), so those, and every measure read from them, are None (never 0).
- A reach row of an account, campaign or ad set: reach is not additive, so it is asked per
  level.
- A level's totals (spend, impressions, clicks) as Meta reports them: what the data
  validation compares the stored ad facts with.

Every row names its ancestors (``adset_id``, ``campaign_id``, ``account_id``, ids as strings,
the account's without ``act_``): ``parents`` holds them nearest first as entities store them
(the account as ``act_<id>``), cut at the first one the row does not name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from metricx.integrations.meta.actions import (
    PURCHASE_TYPES,
    action_measures,
    by_type,
    first_of,
    normalized_attribution,
    number,
)
from metricx.integrations.meta.client import act_id
from metricx.integrations.meta.results import result_count

HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
PARENT_FIELDS = ("adset_id", "campaign_id", "account_id")
# Video fields: daily rows only (Meta refuses them with hourly breakdowns). field -> measure
VIDEO_FIELDS: dict[str, str] = {
    "video_thruplay_watched_actions": "thruplays",
    "video_p25_watched_actions": "video_p25",
    "video_p50_watched_actions": "video_p50",
    "video_p75_watched_actions": "video_p75",
    "video_p95_watched_actions": "video_p95",
    "video_p100_watched_actions": "video_p100",
}
VIDEO_AVG_TIME = "video_avg_time_watched_actions"
DAILY_AD_FIELDS = (
    "ad_id",
    *PARENT_FIELDS,
    "objective",
    "spend",
    "impressions",
    "clicks",
    "reach",
    "actions",
    "action_values",
    "date_start",
    "attribution_setting",
    "inline_link_clicks",
    "outbound_clicks",
    *VIDEO_FIELDS,
    VIDEO_AVG_TIME,
)
VIDEO_VIEW = "video_view"  # the action of a 3-second play, and the video lists' element type
OUTBOUND_CLICK = "outbound_click"
LANDING_PAGE_VIEW_TYPES = ("landing_page_view", "omni_landing_page_view")
POST_ENGAGEMENT = "post_engagement"
HOURLY_AD_FIELDS = ("ad_id", *PARENT_FIELDS, "spend", "impressions", "clicks", "date_start")
REACH_LEVELS = ("account", "campaign", "adset")
TOTALS_MEASURES = ("spend", "impressions", "clicks")
# The ancestors a row of a level names, nearest first.
ANCESTOR_FIELDS = {
    "ad": PARENT_FIELDS,
    "adset": PARENT_FIELDS[1:],
    "campaign": PARENT_FIELDS[2:],
    "account": (),
}


@dataclass(frozen=True, slots=True)
class AdInsightsRow:
    """One ad's insights of one local day (``hour`` None) or one local hour of it."""

    ad_id: str
    day: date
    hour: int | None
    spend: Decimal
    impressions: int
    clicks: int
    reach: int | None  # daily rows only
    conversions: Decimal | None  # daily rows only, like the three below
    leads: Decimal | None
    purchases: Decimal | None
    purchase_value: Decimal | None
    parents: tuple[str, ...] | None
    # Daily rows only (None on hourly rows), like the action measures above.
    link_clicks: int | None = None
    outbound_clicks: Decimal | None = None
    landing_page_views: Decimal | None = None
    post_engagement: Decimal | None = None
    video_plays: Decimal | None = None
    thruplays: Decimal | None = None
    video_p25: Decimal | None = None
    video_p50: Decimal | None = None
    video_p75: Decimal | None = None
    video_p95: Decimal | None = None
    video_p100: Decimal | None = None
    video_watch_seconds: Decimal | None = None
    attribution_setting: str | None = None  # normalized: "1d_view,7d_click"
    # Default-attribution counts by action type (daily rows), for the ad set's result.
    action_counts: dict[str, Decimal] | None = None

    @property
    def hourly(self) -> bool:
        return self.hour is not None

    @property
    def adset_id(self) -> str | None:
        return self.parents[0] if self.parents else None

    def result(self, result_type: str | None) -> Decimal | None:
        """The row's result for an ad set whose result type is ``result_type`` (None: no
        result figure, or an hourly row)."""
        if self.action_counts is None:
            return None
        measures = {
            "reach": self.reach,
            "impressions": self.impressions,
            "thruplays": self.thruplays,
        }
        return result_count(result_type, self.action_counts, measures)


@dataclass(frozen=True, slots=True)
class ReachRow:
    """The daily reach of an account, campaign or ad set."""

    level: str
    external_id: str
    day: date
    reach: int
    parents: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class LevelTotalsRow:
    """Meta's own daily totals of an account, campaign or ad set."""

    level: str
    external_id: str
    day: date
    spend: Decimal
    impressions: int
    clicks: int
    # Under the default attribution (reconciliation of conversions): None where Meta omitted
    # the figure (a row aggregating ad sets of different attribution settings or results).
    purchases: Decimal | None = None
    purchase_value: Decimal | None = None
    results: Decimal | None = None
    result_indicator: str | None = None
    attribution_setting: str | None = None


def parse_hour(value: Any) -> int:
    """ "13:00:00 - 13:59:59" -> 13."""
    text = str(value or "")
    hour = int(text.split(":", 1)[0])
    if not 0 <= hour <= 23:
        raise ValueError(f"not an hour bucket: {text!r}")
    return hour


def count(value: Any) -> int:
    return int(number(value))


def parse_day(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def parents_of(row: dict[str, Any], level: str) -> tuple[str, ...] | None:
    chain: list[str] = []
    for key in ANCESTOR_FIELDS[level]:
        value = row.get(key)
        if value in (None, ""):
            break
        chain.append(act_id(str(value)) if key == "account_id" else str(value))
    return tuple(chain) or None


def external_id_of(row: dict[str, Any], level: str) -> str:
    """The row's own object id, as entities store it (an account as ``act_<id>``)."""
    external = str(row.get(f"{level}_id", ""))
    return act_id(external) if level == "account" else external


def stat(items: Any, action_type: str) -> Decimal:
    """A list<AdsActionStats> field's figure (``[{"action_type": "video_view", "value":
    "12"}]``): the element of ``action_type``, else the sum of the elements; absent is 0."""
    values = by_type(items)
    if action_type in values:
        return values[action_type]
    return sum(values.values(), Decimal(0))


def _daily_extras(row: dict[str, Any]) -> dict[str, Any]:
    """The daily row's link, engagement and video measures and its attribution setting."""
    counts = by_type(row.get("actions"))
    plays = counts.get(VIDEO_VIEW, Decimal(0))
    average = stat(row.get(VIDEO_AVG_TIME), VIDEO_VIEW)
    extras: dict[str, Any] = {
        "link_clicks": count(row.get("inline_link_clicks")),
        "outbound_clicks": stat(row.get("outbound_clicks"), OUTBOUND_CLICK),
        "landing_page_views": first_of(counts, LANDING_PAGE_VIEW_TYPES),
        "post_engagement": counts.get(POST_ENGAGEMENT, Decimal(0)),
        "video_plays": plays,
        "video_watch_seconds": average * plays,
        "attribution_setting": normalized_attribution(row.get("attribution_setting")),
        "action_counts": counts,
    }
    for field, measure in VIDEO_FIELDS.items():
        extras[measure] = stat(row.get(field), VIDEO_VIEW)
    return extras


def parse_ad_row(row: dict[str, Any], *, hourly: bool) -> AdInsightsRow:
    """One ad-level insights row (daily, or hourly with the hourly breakdown)."""
    measures = (
        None
        if hourly
        else action_measures(row.get("actions"), row.get("action_values"), row.get("objective"))
    )
    extras = {} if hourly else _daily_extras(row)
    return AdInsightsRow(
        ad_id=str(row["ad_id"]),
        day=parse_day(row["date_start"]),
        hour=parse_hour(row.get(HOURLY)) if hourly else None,
        spend=number(row.get("spend")),
        impressions=count(row.get("impressions")),
        clicks=count(row.get("clicks")),
        reach=None if hourly else count(row.get("reach")),
        conversions=measures.conversions if measures else None,
        leads=measures.leads if measures else None,
        purchases=measures.purchases if measures else None,
        purchase_value=measures.purchase_value if measures else None,
        parents=parents_of(row, "ad"),
        **extras,
    )


def parse_reach_row(row: dict[str, Any], level: str) -> ReachRow:
    return ReachRow(
        level=level,
        external_id=external_id_of(row, level),
        day=parse_day(row["date_start"]),
        reach=count(row.get("reach")),
        parents=parents_of(row, level),
    )


def default_result(results: Any) -> tuple[str | None, Decimal | None]:
    """Meta's ``results`` list -> (indicator, count under the default attribution): an
    indicator without values is 0; no list (a row mixing result types) is (None, None)."""
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        return None, None
    item = results[0]
    for value in item.get("values") or ():
        if isinstance(value, dict) and "default" in (value.get("attribution_windows") or ()):
            return item.get("indicator"), number(value.get("value"))
    return item.get("indicator"), Decimal(0)


def parse_totals_row(row: dict[str, Any], level: str) -> LevelTotalsRow:
    setting = row.get("attribution_setting")
    mixed = setting == "mixed"
    counts, values = by_type(row.get("actions")), by_type(row.get("action_values"))
    indicator, results = default_result(row.get("results"))
    return LevelTotalsRow(
        level=level,
        external_id=external_id_of(row, level),
        day=parse_day(row["date_start"]),
        spend=number(row.get("spend")),
        impressions=count(row.get("impressions")),
        clicks=count(row.get("clicks")),
        purchases=None if mixed else first_of(counts, PURCHASE_TYPES),
        purchase_value=None if mixed else first_of(values, PURCHASE_TYPES),
        results=results,
        result_indicator=indicator,
        attribution_setting=normalized_attribution(setting) if setting and not mixed else setting,
    )


def reach_fields(level: str) -> tuple[str, ...]:
    key = "account_id" if level == "account" else f"{level}_id"
    return (key, *ANCESTOR_FIELDS[level], "reach", "date_start")


def totals_fields(level: str) -> tuple[str, ...]:
    return (
        f"{level}_id",
        "date_start",
        *TOTALS_MEASURES,
        "actions",
        "action_values",
        "results",
        "attribution_setting",
    )
