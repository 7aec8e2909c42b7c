"""An ad set's "Results" as Ads Manager counts them: the mapping table.

Ads Manager's Results column counts, for each ad set, the one thing it optimizes for: its
``optimization_goal``, refined by its ``promoted_object`` (the pixel event or custom
conversion of a conversions ad set). The result is named by Meta's ``results`` indicator
("actions:<action type>", or a field such as "reach"); the ad set's entity row keeps it as its
``result_type``. An ad-day's result is read from its insights row under the ad set's own
attribution setting (the actions' ``value`` key), taking the FIRST action type of the list
that the row reports (the later ones are the same event under another name on some setups,
never parts to add up).

| optimization_goal (+ promoted_object) | result type ("actions:" + action type, or a field) |
|---|---|
| OFFSITE_CONVERSIONS, VALUE + custom_conversion_id C | actions:offsite_conversion.custom.C |
| OFFSITE_CONVERSIONS, VALUE + custom_event_type E | actions:offsite_conversion.fb_pixel_<e> |
| (no event named: PURCHASE) | (other events: actions:offsite_conversion.fb_pixel_custom) |
| LEAD_GENERATION, QUALITY_LEAD | actions:lead |
| LANDING_PAGE_VIEWS | actions:landing_page_view |
| LINK_CLICKS | actions:link_click |
| POST_ENGAGEMENT | actions:post_engagement |
| PAGE_LIKES | actions:like |
| CONVERSATIONS | actions:onsite_conversion.messaging_conversation_started_7d |
| APP_INSTALLS | actions:mobile_app_install |
| THRUPLAY | video_thruplay_watched_actions (ThruPlays) |
| REACH | reach (the row's reach; never summed: a range's reach is asked per range) |
| IMPRESSIONS | impressions |
| AD_RECALL_LIFT | estimated_ad_recallers (a figure metricx does not get: no number) |
| PROFILE_VISIT, VISIT_INSTAGRAM_PROFILE | total_profile_visits (likewise) |
| any other goal | none: no result |

An "actions:" result reads that action type, else the same event's other names where Meta
uses them (fb_pixel_purchase: purchase, omni_purchase; lead: onsite_conversion.lead_grouped;
landing_page_view: omni_landing_page_view; mobile_app_install: omni_app_install), else 0.

Pixel events: PURCHASE, LEAD, ADD_TO_CART, INITIATED_CHECKOUT, COMPLETE_REGISTRATION,
CONTENT_VIEW -> fb_pixel_purchase, _lead, _add_to_cart, _initiate_checkout,
_complete_registration, _view_content; other events -> fb_pixel_custom.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ACTIONS_PREFIX = "actions:"
REACH = "reach"
IMPRESSIONS = "impressions"
THRUPLAYS = "video_thruplay_watched_actions"
# Indicators Meta names but whose figure metricx does not receive: results stay null.
UNREAD = frozenset({"estimated_ad_recallers", "total_profile_visits"})

_CONVERSION_GOALS = frozenset({"OFFSITE_CONVERSIONS", "VALUE"})
_GOALS: dict[str, str] = {
    "LEAD_GENERATION": ACTIONS_PREFIX + "lead",
    "QUALITY_LEAD": ACTIONS_PREFIX + "lead",
    "LANDING_PAGE_VIEWS": ACTIONS_PREFIX + "landing_page_view",
    "LINK_CLICKS": ACTIONS_PREFIX + "link_click",
    "POST_ENGAGEMENT": ACTIONS_PREFIX + "post_engagement",
    "PAGE_LIKES": ACTIONS_PREFIX + "like",
    "CONVERSATIONS": ACTIONS_PREFIX + "onsite_conversion.messaging_conversation_started_7d",
    "APP_INSTALLS": ACTIONS_PREFIX + "mobile_app_install",
    "THRUPLAY": THRUPLAYS,
    "REACH": REACH,
    "IMPRESSIONS": IMPRESSIONS,
    "AD_RECALL_LIFT": "estimated_ad_recallers",
    "PROFILE_VISIT": "total_profile_visits",
    "VISIT_INSTAGRAM_PROFILE": "total_profile_visits",
}
_PIXEL_EVENTS: dict[str, str] = {
    "PURCHASE": "offsite_conversion.fb_pixel_purchase",
    "LEAD": "offsite_conversion.fb_pixel_lead",
    "ADD_TO_CART": "offsite_conversion.fb_pixel_add_to_cart",
    "INITIATED_CHECKOUT": "offsite_conversion.fb_pixel_initiate_checkout",
    "COMPLETE_REGISTRATION": "offsite_conversion.fb_pixel_complete_registration",
    "CONTENT_VIEW": "offsite_conversion.fb_pixel_view_content",
}
_PIXEL_CUSTOM = "offsite_conversion.fb_pixel_custom"
# action type of an indicator -> the same event's other names, read when it is absent
_ALSO: dict[str, tuple[str, ...]] = {
    "offsite_conversion.fb_pixel_purchase": ("purchase", "omni_purchase"),
    "lead": ("onsite_conversion.lead_grouped",),
    "landing_page_view": ("omni_landing_page_view",),
    "mobile_app_install": ("omni_app_install",),
}


def result_type_for(goal: str | None, promoted_object: Mapping[str, Any] | None) -> str | None:
    """The ``results`` indicator of an ad set with this goal and promoted object (None: the
    goal has no result metricx knows)."""
    if not goal:
        return None
    goal = goal.upper()
    if goal in _CONVERSION_GOALS:
        promoted = promoted_object or {}
        custom = promoted.get("custom_conversion_id")
        if custom:
            return f"{ACTIONS_PREFIX}offsite_conversion.custom.{custom}"
        event = str(promoted.get("custom_event_type") or "PURCHASE").upper()
        return ACTIONS_PREFIX + _PIXEL_EVENTS.get(event, _PIXEL_CUSTOM)
    return _GOALS.get(goal)


@dataclass(frozen=True, slots=True)
class ResultSource:
    """Where an ad-day's result count is read: action types (first present) or a measure."""

    action_types: tuple[str, ...] = ()
    measure: str | None = None  # "reach", "impressions" or "thruplays"


def source_of(result_type: str | None) -> ResultSource | None:
    """How to read a result of ``result_type`` (None: no result figure)."""
    if not result_type or result_type in UNREAD:
        return None
    if result_type.startswith(ACTIONS_PREFIX):
        action = result_type.removeprefix(ACTIONS_PREFIX)
        return ResultSource(action_types=(action, *_ALSO.get(action, ())))
    if result_type == THRUPLAYS:
        return ResultSource(measure="thruplays")
    if result_type in (REACH, IMPRESSIONS):
        return ResultSource(measure=result_type)
    return None


def result_count(
    result_type: str | None,
    actions: Mapping[str, Decimal],
    measures: Mapping[str, Decimal | int | None],
) -> Decimal | None:
    """One ad-day's result: ``actions`` are the row's default-attribution counts by action
    type, ``measures`` its reach, impressions and ThruPlays. None when there is no result
    figure (or the row does not carry the measure it comes from, as hourly rows)."""
    source = source_of(result_type)
    if source is None:
        return None
    if source.measure is not None:
        value = measures.get(source.measure)
        return None if value is None else Decimal(value)
    for action_type in source.action_types:
        if action_type in actions:
            return actions[action_type]
    return Decimal(0)


def is_summable(result_type: str | None) -> bool:
    """Whether a result of this type adds up across days and ads (reach does not)."""
    return result_type != REACH
