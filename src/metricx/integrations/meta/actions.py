"""Meta's `actions` / `action_values` lists as metricx's measures: the mapping table.

Meta's action types overlap (META_API.md §4): `omni_purchase` and `purchase` are
deduplicated aggregates that already contain `offsite_conversion.fb_pixel_purchase`; `lead`
already contains `onsite_conversion.lead_grouped` and `offsite_conversion.fb_pixel_lead`;
`post_engagement` contains `link_click`. Summing them double counts, so each measure takes
the FIRST type present in its list, never a sum of overlapping types:

| measure | from | action types, in order of preference |
|---|---|---|
| purchases | actions | omni_purchase, purchase, offsite_conversion.fb_pixel_purchase, |
| | | onsite_web_purchase |
| purchase_value | action_values | the same list |
| leads | actions | lead; else onsite_conversion.lead_grouped + offsite_conversion.fb_pixel_lead |
| | | (on-Facebook forms and website leads are disjoint, so that fallback may add) |
| conversions | | "the conversion" of the campaign's goal (objective -> goal, entities.py): |
| | | sales -> purchases; leads -> leads; app_promotion -> mobile_app_install, |
| | | app_install, omni_app_install (first present); awareness, traffic, engagement -> 0 |
| | | (their result is reach, clicks or engagement, measured elsewhere); unknown |
| | | objective -> purchases when any, else leads |

Values are Meta's default attribution (the `value` key: the ad set's attribution setting, what
Ads Manager shows); the per-window keys are ignored.

Hourly rows (hourly_stats_* breakdowns) carry no off-Meta actions at all ("Type 1"
breakdowns), so an hourly purchase or lead count would be a silent undercount: hourly facts
store NULL for all four action measures (never 0, never invented). Daily rows store 0 where
Meta reports no such action. Hourly `reach` is 0 by Meta's rule: stored as NULL too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from metricx.integrations.meta.entities import goal_for

PURCHASE_TYPES = (
    "omni_purchase",
    "purchase",
    "offsite_conversion.fb_pixel_purchase",
    "onsite_web_purchase",
)
LEAD_AGGREGATE = "lead"
LEAD_PARTS = ("onsite_conversion.lead_grouped", "offsite_conversion.fb_pixel_lead")
APP_INSTALL_TYPES = ("mobile_app_install", "app_install", "omni_app_install")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ActionMeasures:
    conversions: Decimal
    leads: Decimal
    purchases: Decimal
    purchase_value: Decimal


_WINDOW_TOKEN = re.compile(r"\d+d_(?:click|view|ev)")


def normalized_attribution(value: Any) -> str | None:
    """An attribution setting as its window tokens, sorted and comma-separated
    ("7d_click_1d_view" and "1d_view_7d_click" -> "1d_view,7d_click"): Meta's token order
    varies. A value without window tokens ("mixed", "skan") is kept as Meta sent it."""
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    tokens = sorted(set(_WINDOW_TOKEN.findall(text)))
    return ",".join(tokens) if tokens else text[:128]


def number(value: Any) -> Decimal:
    """Meta's numeric strings ("12", "5339.5") or old numeric values; junk counts as 0."""
    if value is None or isinstance(value, bool):
        return ZERO
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return ZERO


def by_type(items: Iterable[Any] | None) -> dict[str, Decimal]:
    """An actions list as {action_type: default-attribution value} (summed if Meta repeats a
    type, which it does only with action breakdowns)."""
    out: dict[str, Decimal] = {}
    for item in items or ():
        if isinstance(item, Mapping) and item.get("action_type"):
            key = str(item["action_type"])
            out[key] = out.get(key, ZERO) + number(item.get("value"))
    return out


def first_of(values: Mapping[str, Decimal], types: Iterable[str]) -> Decimal:
    for action_type in types:
        if action_type in values:
            return values[action_type]
    return ZERO


def leads_of(actions: Mapping[str, Decimal]) -> Decimal:
    if LEAD_AGGREGATE in actions:
        return actions[LEAD_AGGREGATE]
    return sum((actions.get(t, ZERO) for t in LEAD_PARTS), ZERO)


def the_conversion(goal: str | None, actions: Mapping[str, Decimal]) -> Decimal:
    """The count of the action the campaign's goal is about."""
    purchases = first_of(actions, PURCHASE_TYPES)
    if goal == "sales":
        return purchases
    if goal == "leads":
        return leads_of(actions)
    if goal == "app_promotion":
        return first_of(actions, APP_INSTALL_TYPES)
    if goal in ("awareness", "traffic", "engagement"):
        return ZERO
    return purchases if purchases else leads_of(actions)


def action_measures(
    actions: Iterable[Any] | None, action_values: Iterable[Any] | None, objective: str | None
) -> ActionMeasures:
    """The four action measures of one daily insights row."""
    counts = by_type(actions)
    values = by_type(action_values)
    return ActionMeasures(
        conversions=the_conversion(goal_for(objective), counts),
        leads=leads_of(counts),
        purchases=first_of(counts, PURCHASE_TYPES),
        purchase_value=first_of(values, PURCHASE_TYPES),
    )
