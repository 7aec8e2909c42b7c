"""Meta's campaigns, ad sets and ads as entity records (provider-neutral shape).

Objective -> goal (no official legacy -> ODAX table exists, META_API.md §3; this one follows
Ads Manager's six ODAX families, with each legacy objective put in the family that replaced it).
Ad sets also keep their optimization goal, promoted object, attribution setting (from
``attribution_spec``) and result type (results.py):

| goal | objectives |
|---|---|
| awareness | OUTCOME_AWARENESS, BRAND_AWARENESS, REACH, LOCAL_AWARENESS, STORE_VISITS |
| traffic | OUTCOME_TRAFFIC, LINK_CLICKS |
| engagement | OUTCOME_ENGAGEMENT, POST_ENGAGEMENT, PAGE_LIKES, EVENT_RESPONSES, VIDEO_VIEWS, |
| | MESSAGES, OFFER_CLAIMS |
| leads | OUTCOME_LEADS, LEAD_GENERATION |
| app_promotion | OUTCOME_APP_PROMOTION, APP_INSTALLS |
| sales | OUTCOME_SALES, CONVERSIONS, PRODUCT_CATALOG_SALES |

An unknown objective maps to None (shown as "other"). Ad sets and ads inherit their
campaign's objective and goal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from metricx.integrations.meta.results import result_type_for

if TYPE_CHECKING:
    from metricx.integrations.meta.client import MetaAdsClient

GOALS: dict[str, str] = {
    "OUTCOME_AWARENESS": "awareness",
    "BRAND_AWARENESS": "awareness",
    "REACH": "awareness",
    "LOCAL_AWARENESS": "awareness",
    "STORE_VISITS": "awareness",
    "OUTCOME_TRAFFIC": "traffic",
    "LINK_CLICKS": "traffic",
    "OUTCOME_ENGAGEMENT": "engagement",
    "POST_ENGAGEMENT": "engagement",
    "PAGE_LIKES": "engagement",
    "EVENT_RESPONSES": "engagement",
    "VIDEO_VIEWS": "engagement",
    "MESSAGES": "engagement",
    "OFFER_CLAIMS": "engagement",
    "OUTCOME_LEADS": "leads",
    "LEAD_GENERATION": "leads",
    "OUTCOME_APP_PROMOTION": "app_promotion",
    "APP_INSTALLS": "app_promotion",
    "OUTCOME_SALES": "sales",
    "CONVERSIONS": "sales",
    "PRODUCT_CATALOG_SALES": "sales",
}


def goal_for(objective: str | None) -> str | None:
    return GOALS.get(objective.upper()) if objective else None


# attribution_spec event types -> window suffix
_SPEC_EVENTS = {"CLICK_THROUGH": "click", "VIEW_THROUGH": "view", "ENGAGED_VIDEO_VIEW": "ev"}


def attribution_from_spec(spec: Any) -> str | None:
    """An ad set's ``attribution_spec`` ([{"event_type": "CLICK_THROUGH", "window_days": 7},
    ...]) as a normalized attribution setting ("1d_view,7d_click")."""
    if not isinstance(spec, list):
        return None
    tokens = []
    for item in spec:
        if not isinstance(item, Mapping):
            continue
        kind = _SPEC_EVENTS.get(str(item.get("event_type", "")).upper())
        days = item.get("window_days")
        if kind and isinstance(days, int | str) and str(days).isdigit():
            tokens.append(f"{int(days)}d_{kind}")
    return ",".join(sorted(set(tokens))) or None


def parse_meta_time(value: Any) -> datetime | None:
    """ "2024-03-12T15:02:47-0700" (offset without a colon) or ISO 8601."""
    if not value:
        return None
    text = str(value)
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class EntityRecord:
    level: str  # account | campaign | adset | ad
    external_id: str
    parent_external_id: str | None  # the parent's external id one level up
    name: str | None
    status: str | None
    effective_status: str | None
    objective: str | None
    goal: str | None
    created_time: datetime | None
    # Ad sets only (see models/entities.py): Meta's optimization goal and promoted object, the
    # normalized attribution setting and the result type the mapping table gives them.
    optimization_goal: str | None = None
    promoted_object: dict[str, Any] | None = None
    attribution_setting: str | None = None
    result_type: str | None = None
    # Ads only: the creative's id (``creative{id}``).
    creative_id: str | None = None

    def values(self) -> tuple[Any, ...]:
        """What a change of is compared on (to count updated vs unchanged)."""
        return (
            self.name,
            self.status,
            self.effective_status,
            self.objective,
            self.goal,
            self.optimization_goal,
            self.promoted_object,
            self.attribution_setting,
            self.result_type,
        )


def _text(row: dict[str, Any], key: str, limit: int) -> str | None:
    value = row.get(key)
    return str(value)[:limit] if value is not None else None


def _parent(row: dict[str, Any], key: str) -> str | None:
    value = row.get(f"{key}_id") or (row.get(key) or {}).get("id")
    return str(value) if value else None


def account_record(account: dict[str, Any]) -> EntityRecord:
    return EntityRecord(
        level="account",
        external_id=str(account["id"]),
        parent_external_id=None,
        name=_text(account, "name", 500),
        status=str(account.get("account_status")) if account.get("account_status") else None,
        effective_status=None,
        objective=None,
        goal=None,
        created_time=parse_meta_time(account.get("created_time")),
    )


def campaign_record(row: dict[str, Any], account_external_id: str) -> EntityRecord:
    objective = _text(row, "objective", 64)
    return EntityRecord(
        level="campaign",
        external_id=str(row["id"]),
        parent_external_id=account_external_id,
        name=_text(row, "name", 500),
        status=_text(row, "status", 32),
        effective_status=_text(row, "effective_status", 32),
        objective=objective,
        goal=goal_for(objective),
        created_time=parse_meta_time(row.get("created_time")),
    )


def child_record(
    level: str, row: dict[str, Any], objectives: dict[str, str | None]
) -> EntityRecord:
    """An ad set (parent: campaign) or ad (parent: ad set); objective from the campaign."""
    parent = _parent(row, "campaign" if level == "adset" else "adset")
    objective = objectives.get(_parent(row, "campaign") or "")
    settings: dict[str, Any] = {}
    if level == "adset":
        goal = _text(row, "optimization_goal", 64)
        promoted = row.get("promoted_object")
        promoted = dict(promoted) if isinstance(promoted, Mapping) and promoted else None
        settings = {
            "optimization_goal": goal,
            "promoted_object": promoted,
            "attribution_setting": attribution_from_spec(row.get("attribution_spec")),
            "result_type": result_type_for(goal, promoted),
        }
    elif level == "ad":
        settings = {"creative_id": _parent(row, "creative")}
    return EntityRecord(
        level=level,
        external_id=str(row["id"]),
        parent_external_id=parent,
        name=_text(row, "name", 500),
        status=_text(row, "status", 32),
        effective_status=_text(row, "effective_status", 32),
        objective=objective,
        goal=goal_for(objective),
        created_time=parse_meta_time(row.get("created_time")),
        **settings,
    )


def fetch_entity_records(client: MetaAdsClient, account_id: str) -> list[EntityRecord]:
    """Every level of one account in three paged account-level calls (not one per parent),
    parents first (so parent links resolve in one pass)."""
    account = client.transport.request(
        "GET", (account_id,), {"fields": "id,name,account_status,created_time"}
    )
    records = [account_record(account)]
    campaigns = [campaign_record(row, account_id) for row in client.iter_campaigns(account_id)]
    objectives = {c.external_id: c.objective for c in campaigns}
    records += campaigns
    records += [child_record("adset", row, objectives) for row in client.iter_adsets(account_id)]
    records += [child_record("ad", row, objectives) for row in client.iter_ads(account_id)]
    return records
