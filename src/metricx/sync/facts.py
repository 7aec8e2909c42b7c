"""Meta's typed insights rows (integrations/meta/insights_rows.py) as metricx's facts.

- An ad's daily row: a daily ad fact with every measure; Meta's reported zeros stay zeros.
  Its ``results`` are its ad set's result (the ad set's result type, set by the entity sync,
  read from the row: integrations/meta/results.py); null where the ad set has none or is not
  known yet (the next sync of the day, after an entity sync, fills it).
- An ad's hourly row: an hourly fact of the local hour; the ingest service turns it into UTC
  with the connection's zone (half-hour zones included). On the day clocks go back Meta sums
  the repeated hour into one row: it is stored at the first occurrence (fold=0), covering two
  real hours. Hourly reach, action, link, video and result measures are unknown: NULL, never
  0.
- A reach row: a daily account, campaign or ad set fact carrying ONLY reach (spend,
  impressions and clicks 0, action measures NULL). The query layer sums additive measures from
  the deepest level present (ads), so these rows never add to a sum.
- ``parents``: an ad (or ad set) can deliver before the entity sync lists it; its facts carry
  the ancestors its row named and the ingest service files it under them at once, so its spend
  counts at every level; the next entity sync gives it its name and status.
"""

from __future__ import annotations

from collections.abc import Mapping

from metricx.facts.types import FactInput
from metricx.integrations.meta.insights_rows import AdInsightsRow, ReachRow

PROVIDER = "meta"
# The daily row's measures copied as they are (the row's attribute of the same name).
DAILY_MEASURES = (
    "reach",
    "conversions",
    "leads",
    "purchases",
    "purchase_value",
    "link_clicks",
    "outbound_clicks",
    "landing_page_views",
    "post_engagement",
    "video_plays",
    "thruplays",
    "video_p25",
    "video_p50",
    "video_p75",
    "video_p95",
    "video_p100",
    "video_watch_seconds",
)


def ad_fact(row: AdInsightsRow, result_types: Mapping[str, str | None] | None = None) -> FactInput:
    """One ad's insights row as a fact; ``result_types``: ad set external id -> its result
    type."""
    fact = FactInput(
        granularity="hour" if row.hourly else "day",
        external_entity_id=row.ad_id,
        provider=PROVIDER,
        level="ad",
        event_date=row.day,
        spend=row.spend,
        impressions=row.impressions,
        clicks=row.clicks,
        parents=row.parents,
    )
    if row.hourly:
        fact.hour = row.hour
        fact.fold = 0  # Meta merges the repeated hour into one row: its first occurrence
        return fact
    for name in DAILY_MEASURES:
        setattr(fact, name, getattr(row, name))
    adset = row.adset_id
    fact.results = row.result((result_types or {}).get(adset)) if adset else None
    return fact


def reach_fact(row: ReachRow) -> FactInput:
    """A level's daily reach as a reach-only fact."""
    return FactInput(
        granularity="day",
        external_entity_id=row.external_id,
        provider=PROVIDER,
        level=row.level,
        event_date=row.day,
        reach=row.reach,
        parents=row.parents,
    )
