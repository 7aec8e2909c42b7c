"""Meta's insights rows as typed values: the one place that reads an insights row's keys.

- An ad's daily row: spend, impressions, clicks, reach and the four action measures
  (actions.py's mapping table).
- An ad's hourly row (``hourly_stats_aggregated_by_advertiser_time_zone`` with
  ``time_increment=1``): a local date and a local hour of the account's time zone; Meta has no
  hourly reach and no off-Meta actions by the hour, so those are None (never 0).
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

from metricx.integrations.meta.actions import action_measures, number
from metricx.integrations.meta.client import act_id

HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
PARENT_FIELDS = ("adset_id", "campaign_id", "account_id")
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
)
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

    @property
    def hourly(self) -> bool:
        return self.hour is not None


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


def parse_ad_row(row: dict[str, Any], *, hourly: bool) -> AdInsightsRow:
    """One ad-level insights row (daily, or hourly with the hourly breakdown)."""
    measures = (
        None
        if hourly
        else action_measures(row.get("actions"), row.get("action_values"), row.get("objective"))
    )
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
    )


def parse_reach_row(row: dict[str, Any], level: str) -> ReachRow:
    return ReachRow(
        level=level,
        external_id=external_id_of(row, level),
        day=parse_day(row["date_start"]),
        reach=count(row.get("reach")),
        parents=parents_of(row, level),
    )


def parse_totals_row(row: dict[str, Any], level: str) -> LevelTotalsRow:
    return LevelTotalsRow(
        level=level,
        external_id=external_id_of(row, level),
        day=parse_day(row["date_start"]),
        spend=number(row.get("spend")),
        impressions=count(row.get("impressions")),
        clicks=count(row.get("clicks")),
    )


def reach_fields(level: str) -> tuple[str, ...]:
    key = "account_id" if level == "account" else f"{level}_id"
    return (key, *ANCESTOR_FIELDS[level], "reach", "date_start")


def totals_fields(level: str) -> tuple[str, ...]:
    return (f"{level}_id", "date_start", *TOTALS_MEASURES)
