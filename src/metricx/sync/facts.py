"""Meta's typed insights rows (integrations/meta/insights_rows.py) as metricx's facts.

- An ad's daily row: a daily ad fact with every measure; Meta's reported zeros stay zeros.
- An ad's hourly row: an hourly fact of the local hour; the ingest service turns it into UTC
  with the connection's zone (half-hour zones included). On the day clocks go back Meta sums
  the repeated hour into one row: it is stored at the first occurrence (fold=0), covering two
  real hours. Hourly reach and action measures are unknown: NULL, never 0.
- A reach row: a daily account, campaign or ad set fact carrying ONLY reach (spend,
  impressions and clicks 0, action measures NULL). The query layer sums additive measures from
  the deepest level present (ads), so these rows never add to a sum.
- ``parents``: an ad (or ad set) can deliver before the entity sync lists it; its facts carry
  the ancestors its row named and the ingest service files it under them at once, so its spend
  counts at every level; the next entity sync gives it its name and status.
"""

from __future__ import annotations

from metricx.facts.types import FactInput
from metricx.integrations.meta.insights_rows import AdInsightsRow, ReachRow

PROVIDER = "meta"


def ad_fact(row: AdInsightsRow) -> FactInput:
    """One ad's insights row as a fact."""
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
    fact.reach = row.reach
    fact.conversions = row.conversions
    fact.leads = row.leads
    fact.purchases = row.purchases
    fact.purchase_value = row.purchase_value
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
