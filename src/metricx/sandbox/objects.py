"""Ad objects on the wire: field rendering, `fields` parsing and edge filtering."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from metricx.sandbox import errors
from metricx.sandbox.generator import (
    HIDDEN_STATUSES,
    Account,
    Ad,
    AdSet,
    Campaign,
    CustomConversion,
)

NODE_TYPES = {
    Account: "AdAccount",
    Campaign: "AdCampaignGroup",
    AdSet: "AdCampaign",
    Ad: "Adgroup",
    CustomConversion: "CustomConversion",
}
LEVEL_NAMES = {Campaign: "campaign", AdSet: "adset", Ad: "ad"}


def meta_time(when: datetime, account: Account) -> str:
    """ "2024-03-12T15:02:47-0700": ISO 8601 in the account's zone, offset without a colon."""
    return when.astimezone(account.tz).strftime("%Y-%m-%dT%H:%M:%S%z")


def split_fields(raw: str | None) -> list[str]:
    """`fields` as the SDK sends it: "a,b,c{d,e}" or a JSON array (async POST bodies)."""
    if not raw:
        return []
    text = raw.strip()
    if text.startswith("["):
        try:
            return [str(f) for f in json.loads(text)]
        except json.JSONDecodeError:
            raise errors.invalid_param("fields must be a list of strings") from None
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += (ch == "{") - (ch == "}")
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return [f.split("{", 1)[0].split(".", 1)[0] for f in out if f]


def parse_json_param(params: dict[str, str], name: str) -> Any:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise errors.invalid_param(f"param {name} must be JSON") from None


def _account_fields(a: Account, now: datetime, spent: Callable[[], str]) -> dict[str, Any]:
    offset = now.astimezone(a.tz).utcoffset()
    return {
        "id": a.id,
        "account_id": a.account_id,
        "name": a.name,
        "currency": a.currency,
        "timezone_id": a.timezone_id,
        "timezone_name": a.timezone_name,
        "timezone_offset_hours_utc": (offset.total_seconds() / 3600) if offset else 0.0,
        "account_status": 1,
        "disable_reason": 0,
        "amount_spent": spent,
        "balance": "0",
        "spend_cap": "0",
        "created_time": meta_time(a.created, a),
        "age": 400.0,
        "business": {"id": f"9{a.account_id}", "name": "Sandbox Business"},
        "owner": f"9{a.account_id}",
        "is_personal": 0,
    }


def _campaign_fields(c: Campaign) -> dict[str, Any]:
    a = c.account
    out: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "account_id": a.account_id,
        "objective": c.objective,
        "status": c.status,
        "configured_status": c.status,
        "effective_status": c.effective_status,
        "buying_type": "AUCTION",
        "daily_budget": str(c.daily_budget_minor),
        "lifetime_budget": "0",
        "budget_remaining": str(c.daily_budget_minor),
        "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        "special_ad_categories": [],
        "start_time": meta_time(c.created, a),
        "created_time": meta_time(c.created, a),
        "updated_time": meta_time(c.updated, a),
        "smart_promotion_type": "GUIDED_CREATION",
        "issues_info": [],
    }
    if c.stopped is not None:
        out["stop_time"] = meta_time(c.stopped, a)
    return out


def _adset_fields(s: AdSet) -> dict[str, Any]:
    a = s.account
    out: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "campaign_id": s.campaign.id,
        "account_id": a.account_id,
        "campaign": {"id": s.campaign.id},
        "status": s.status,
        "configured_status": s.status,
        "effective_status": s.effective_status,
        "daily_budget": str(s.daily_budget_minor),
        "lifetime_budget": "0",
        "budget_remaining": str(s.daily_budget_minor),
        "optimization_goal": s.optimization_goal,
        "promoted_object": dict(s.promoted_object),
        "billing_event": "IMPRESSIONS",
        "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        "start_time": meta_time(s.created, a),
        "created_time": meta_time(s.created, a),
        "updated_time": meta_time(s.updated, a),
        "targeting": {
            "age_min": 18,
            "age_max": 65,
            "geo_locations": {"countries": ["US"], "location_types": ["home"]},
        },
        "attribution_spec": s.attribution_spec,
    }
    if s.stopped is not None:
        out["end_time"] = meta_time(s.stopped, a)
    return out


def _ad_fields(ad: Ad) -> dict[str, Any]:
    a = ad.account
    return {
        "id": ad.id,
        "name": ad.name,
        "adset_id": ad.adset.id,
        "campaign_id": ad.campaign.id,
        "account_id": a.account_id,
        "adset": {"id": ad.adset.id},
        "campaign": {"id": ad.campaign.id},
        "status": ad.status,
        "configured_status": ad.status,
        "effective_status": ad.effective_status,
        "creative": {"id": ad.creative.id if ad.creative is not None else ""},
        "created_time": meta_time(ad.created, a),
        "updated_time": meta_time(ad.updated, a),
        "tracking_specs": [],
        "conversion_specs": [],
    }


def _custom_conversion_fields(cc: CustomConversion) -> dict[str, Any]:
    a = cc.account
    return {
        "id": cc.id,
        "account_id": a.account_id,
        "name": cc.name,
        "description": "",
        "custom_event_type": cc.custom_event_type,
        "rule": cc.rule,
        "event_source_type": "pixel",
        "pixel": {"id": a.pixel_id},
        "data_sources": [{"id": a.pixel_id, "source_type": "PIXEL", "name": "Sandbox pixel"}],
        "default_conversion_value": cc.default_conversion_value,
        "retention_days": 0,
        "creation_time": meta_time(cc.created, a),
        "first_fired_time": meta_time(cc.created, a),
        "last_fired_time": meta_time(cc.created, a),
        "is_archived": cc.is_archived,
        "is_unavailable": cc.is_unavailable,
    }


def render(
    obj: Account | Campaign | AdSet | Ad | CustomConversion,
    fields: Sequence[str],
    now: datetime,
    spent: Callable[[], str] | None = None,
) -> dict[str, Any]:
    """The object with the requested fields (`id` always); unknown fields are error 100."""
    if isinstance(obj, Account):
        full = _account_fields(obj, now, spent or (lambda: "0"))
    elif isinstance(obj, Campaign):
        full = _campaign_fields(obj)
    elif isinstance(obj, AdSet):
        full = _adset_fields(obj)
    elif isinstance(obj, CustomConversion):
        full = _custom_conversion_fields(obj)
    else:
        full = _ad_fields(obj)
    wanted = list(fields) or (["id", "name"] if isinstance(obj, Account) else ["id"])
    out: dict[str, Any] = {}
    for name in wanted:
        if name not in full:
            if name in ("stop_time", "end_time"):
                continue  # absent when unset, as Graph does
            raise errors.unknown_field(name, NODE_TYPES[type(obj)])
        value = full[name]
        out[name] = value() if callable(value) else value
    out.setdefault("id", full["id"])
    return out


# ---- edge filtering ------------------------------------------------------------------------

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "IN": lambda a, b: a in b,
    "NOT_IN": lambda a, b: a not in b,
    "EQUAL": lambda a, b: a == b,
    "NOT_EQUAL": lambda a, b: a != b,
    "GREATER_THAN": lambda a, b: a > b,
    "LESS_THAN": lambda a, b: a < b,
    "GREATER_THAN_OR_EQUAL": lambda a, b: a >= b,
    "LESS_THAN_OR_EQUAL": lambda a, b: a <= b,
}


def _value_of(obj: Campaign | AdSet | Ad, field: str) -> Any:
    if field == "effective_status":
        return obj.effective_status
    if field == "updated_time":
        return int(obj.updated.timestamp())
    if field == "id":
        return obj.id
    if field == "campaign.id" and not isinstance(obj, Campaign):
        return obj.campaign.id
    if field == "adset.id" and isinstance(obj, Ad):
        return obj.adset.id
    raise errors.invalid_param(f"Filtering field {field} is invalid")


def build_filter(
    params: dict[str, str], level: str, hide_deleted: bool = True
) -> tuple[Callable[[Campaign | AdSet | Ad], bool], bool]:
    """A predicate for `filtering` / `effective_status`, and whether it names
    effective_status (which lifts the default hiding of DELETED and ARCHIVED)."""
    rules: list[tuple[str, Callable[[Any, Any], bool], Any]] = []
    names_status = False
    statuses = parse_json_param(params, "effective_status")
    if statuses:
        rules.append(("effective_status", _OPS["IN"], list(statuses)))
        names_status = True
    for rule in parse_json_param(params, "filtering") or []:
        if not isinstance(rule, dict) or not {"field", "operator", "value"} <= rule.keys():
            raise errors.invalid_param("filtering must be a list of {field, operator, value}")
        field = str(rule["field"])
        for prefix in (f"{level}.",):
            if field.startswith(prefix) and field.count(".") == 1:
                field = field[len(prefix) :]
        op = _OPS.get(str(rule["operator"]))
        if op is None:
            raise errors.invalid_param(f"Filtering operator {rule['operator']} is invalid")
        value = rule["value"]
        if field == "updated_time":
            value = int(value)
        rules.append((field, op, value))
        names_status = names_status or field == "effective_status"

    def keep(obj: Campaign | AdSet | Ad) -> bool:
        if hide_deleted and not names_status and obj.effective_status in HIDDEN_STATUSES:
            return False
        return all(op(_value_of(obj, field), value) for field, op, value in rules)

    return keep, names_status
