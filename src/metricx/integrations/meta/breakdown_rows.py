"""Meta's breakdown rows (age, gender, country, region, placement, device: issue 17) as
``metricx.facts.breakdowns.BreakdownRow``.

A breakdown set's daily ad-level rows are asked like the daily ad rows (the same fields but
video, ``time_increment=1``, ``level=ad``) with ``breakdowns=`` the set's fields and
``action_breakdowns=action_type``; each row names its values as top-level keys
(``{"age": "25-34", "gender": "female", ...}``). The measures are read as the daily ad rows
read theirs (actions.py's mapping table, results.py's), with Meta's rules:

- Type 1 sets (``region``): Meta returns no off-Meta actions (pixel and app events, and the
  ``purchase`` / ``omni_purchase`` / ``lead`` aggregates that contain them), so conversions,
  leads, purchases and purchase value are None (not reported), never 0; a result counted from
  an off-Meta action is None too. On-Meta figures (spend, impressions, clicks, link clicks)
  are unaffected.
- Reach: Meta leaves it out of breakdown rows of a query starting more than 13 months back:
  None then (an absent key is not 0). A reach result reads that reach (None likewise).
- ThruPlay results: video fields are not asked with breakdowns, so None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from metricx.facts.breakdowns import BREAKDOWN_SETS, TYPE1_SETS, BreakdownRow
from metricx.integrations.meta.actions import action_measures, by_type, number
from metricx.integrations.meta.insights_rows import (
    DAILY_AD_FIELDS,
    VIDEO_AVG_TIME,
    VIDEO_FIELDS,
    count,
    parse_day,
)
from metricx.integrations.meta.results import ACTIONS_PREFIX, result_count, source_of

# The daily ad row's fields without the video ones.
BREAKDOWN_AD_FIELDS = tuple(
    f for f in DAILY_AD_FIELDS if f not in VIDEO_FIELDS and f != VIDEO_AVG_TIME
)
# Asked when Meta refuses breakdown reach for old days (its daily allowance is spent).
BREAKDOWN_FIELDS_WITHOUT_REACH = tuple(f for f in BREAKDOWN_AD_FIELDS if f != "reach")
ACTION_BREAKDOWNS = ("action_type",)
OFF_META_PREFIXES = ("offsite_conversion.", "app_custom_event.", "onsite_web_")
OFF_META_TYPES = frozenset({"purchase", "omni_purchase", "lead"})


def is_off_meta(action_type: str) -> bool:
    """An action Meta measures off its apps (web pixel, app events): absent with Type 1."""
    return action_type.startswith(OFF_META_PREFIXES) or action_type in OFF_META_TYPES


def _off_meta_result(result_type: str | None) -> bool:
    source = source_of(result_type)
    if source is None or not source.action_types:
        return False
    return is_off_meta(str(result_type).removeprefix(ACTIONS_PREFIX))


def _optional_count(row: Mapping[str, Any], key: str) -> int | None:
    value = row.get(key)
    return None if value in (None, "") else count(value)


def parse_breakdown_row(
    row: Mapping[str, Any],
    breakdown: str,
    result_types: Mapping[str, str | None] | None = None,
) -> BreakdownRow:
    """One row of set ``breakdown`` (a name of BREAKDOWN_SETS); ``result_types``: ad set
    external id -> its result type (the ad's result is its ad set's)."""
    fields = BREAKDOWN_SETS[breakdown]
    type1 = breakdown in TYPE1_SETS
    keys = [str(row.get(f) or "") for f in fields]
    reach = _optional_count(row, "reach")
    measures = None
    if not type1:
        measures = action_measures(
            row.get("actions"), row.get("action_values"), row.get("objective")
        )
    adset = row.get("adset_id")
    result_type = (result_types or {}).get(str(adset)) if adset else None
    results: Decimal | None = None
    if result_type and not (type1 and _off_meta_result(result_type)):
        results = result_count(
            result_type,
            by_type(row.get("actions")),
            {"reach": reach, "impressions": count(row.get("impressions")), "thruplays": None},
        )
    return BreakdownRow(
        external_id=str(row["ad_id"]),
        day=parse_day(row["date_start"]),
        key1=keys[0],
        key2=keys[1] if len(keys) > 1 else "",
        spend=number(row.get("spend")),
        impressions=count(row.get("impressions")),
        clicks=count(row.get("clicks")),
        link_clicks=count(row.get("inline_link_clicks")),
        reach=reach,
        conversions=measures.conversions if measures else None,
        leads=measures.leads if measures else None,
        purchases=measures.purchases if measures else None,
        purchase_value=measures.purchase_value if measures else None,
        results=results,
    )


def breakdown_fields(breakdown: str) -> Sequence[str]:
    return BREAKDOWN_SETS[breakdown]
