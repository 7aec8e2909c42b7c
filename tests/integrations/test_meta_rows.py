"""Meta's insights rows as typed rows, and Meta's failures as named kinds: the one place
that reads an insights row's keys or an error's code and subcode."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from metricx.integrations.meta.errors import (
    MetaError,
    classify,
    is_connection_lost,
    is_permission_lost,
    is_retryable,
    is_throttled,
    is_token_invalid,
    is_token_revoked,
    is_too_much_data,
)
from metricx.integrations.meta.insights_rows import (
    parse_ad_row,
    parse_reach_row,
    parse_totals_row,
)

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "meta"


def error_of(name: str) -> MetaError:
    err = json.loads((PAYLOADS / name).read_text())["error"]
    return classify(
        code=err.get("code"),
        subcode=err.get("error_subcode"),
        message=err.get("message", ""),
        http_status=400,
        is_transient=bool(err.get("is_transient")),
        retry_after=60,
    )


@pytest.mark.parametrize(
    ("payload", "kinds"),
    [
        ("error_190_460_password_changed.airbyte_test.json", {"token", "revoked", "lost"}),
        ("error_190_458_app_not_authorized.airbyte_test.json", {"token", "revoked", "lost"}),
        ("error_190_463_expired.real_2023.json", {"token", "lost"}),
        ("error_200_requires_business_management.airbyte_test.json", {"permission", "lost"}),
        ("error_17_user_request_limit.real_2017.json", {"throttled", "retryable"}),
        ("error_2_service_unavailable_transient.airbyte_test.json", {"retryable"}),
        ("error_100_cursor_limit.doc.json", set()),
    ],
)
def test_meta_failures_have_named_kinds(payload: str, kinds: set[str]) -> None:
    err = error_of(payload)
    found = {
        "token": is_token_invalid(err),
        "revoked": is_token_revoked(err),
        "permission": is_permission_lost(err),
        "lost": is_connection_lost(err),
        "throttled": is_throttled(err),
    }
    if not found["lost"]:
        found["retryable"] = is_retryable(err)
    assert {k for k, v in found.items() if v} == kinds
    assert not is_too_much_data(err)


def test_too_much_data_is_known_by_its_subcodes() -> None:
    too_big = classify(
        code=100,
        subcode=1487534,
        message="Please reduce the amount of data you're asking for, then retry your request",
        http_status=400,
        is_transient=False,
        retry_after=0,
    )
    assert is_too_much_data(too_big) and not is_retryable(too_big)
    timeout = classify(
        code=2, subcode=1504038, message="", http_status=400, is_transient=True, retry_after=0
    )
    assert is_too_much_data(timeout)


ROW: dict[str, Any] = {
    "ad_id": "120001",
    "adset_id": "120002",
    "campaign_id": "120003",
    "account_id": "100042",
    "objective": "OUTCOME_SALES",
    "spend": "14.35",
    "impressions": "185",
    "clicks": "9",
    "reach": "170",
    "actions": [{"action_type": "omni_purchase", "value": "2"}],
    "action_values": [{"action_type": "omni_purchase", "value": "99.5"}],
    "date_start": "2026-11-20",
    "date_stop": "2026-11-20",
}


def test_daily_and_hourly_ad_rows_are_typed() -> None:
    daily = parse_ad_row(ROW, hourly=False)
    assert (daily.ad_id, daily.day, daily.hour) == ("120001", date(2026, 11, 20), None)
    assert (daily.spend, daily.impressions, daily.clicks, daily.reach) == (
        Decimal("14.35"),
        185,
        9,
        170,
    )
    assert (daily.purchases, daily.purchase_value, daily.conversions) == (2, Decimal("99.5"), 2)
    assert daily.parents == ("120002", "120003", "act_100042")
    hour = {**ROW, "hourly_stats_aggregated_by_advertiser_time_zone": "13:00:00 - 13:59:59"}
    hourly = parse_ad_row(hour, hourly=True)
    assert hourly.hour == 13 and hourly.hourly
    assert hourly.reach is None and hourly.purchases is None and hourly.conversions is None


def test_reach_and_level_total_rows_name_their_object_as_entities_do() -> None:
    reach = parse_reach_row({**ROW, "reach": "400"}, "campaign")
    assert (reach.external_id, reach.reach, reach.parents) == ("120003", 400, ("act_100042",))
    account = parse_totals_row(ROW, "account")
    assert (account.external_id, account.day) == ("act_100042", date(2026, 11, 20))
    assert (account.spend, account.impressions, account.clicks) == (Decimal("14.35"), 185, 9)
    assert parse_totals_row(ROW, "adset").external_id == "120002"
