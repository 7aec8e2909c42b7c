"""Ads Manager parity in Meta's rows: link clicks, video, results and ad set settings.

The payloads in tests/fixtures/meta/*.doc_shapes.json are real rows (an Airbyte test's ad set,
a real 2023 daily insights row) with the fields of Meta's documented shapes added: video
lists of AdsActionStats with action_type "video_view", outbound_clicks as a list,
attribution_setting as a token string, ad sets' optimization_goal, promoted_object and
attribution_spec."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from metricx.integrations.meta.actions import normalized_attribution
from metricx.integrations.meta.entities import attribution_from_spec, child_record
from metricx.integrations.meta.insights_rows import (
    DAILY_AD_FIELDS,
    HOURLY_AD_FIELDS,
    parse_ad_row,
)
from metricx.integrations.meta.results import result_type_for
from metricx.sync.facts import ad_fact

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "meta"


def rows_of(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((PAYLOADS / name).read_text())["data"]
    return data


def test_daily_rows_ask_links_video_and_attribution_hourly_rows_ask_no_video() -> None:
    for field in (
        "inline_link_clicks",
        "outbound_clicks",
        "attribution_setting",
        "video_thruplay_watched_actions",
        "video_p25_watched_actions",
        "video_p95_watched_actions",
        "video_p100_watched_actions",
        "video_avg_time_watched_actions",
    ):
        assert field in DAILY_AD_FIELDS
    # Meta refuses video fields with hourly breakdowns (#100): never asked by the hour.
    assert not [f for f in HOURLY_AD_FIELDS if f.startswith("video_")]


def test_a_video_ad_day_parses_into_every_new_measure() -> None:
    row = parse_ad_row(rows_of("insights_daily_rows_video_links.doc_shapes.json")[0], hourly=False)
    assert row.link_clicks == 88  # inline_link_clicks, not the link_click action
    assert row.outbound_clicks == 74
    assert row.landing_page_views == 61
    assert row.post_engagement == 102
    assert row.video_plays == 1520  # the video_view action: 3-second plays
    assert (row.thruplays, row.video_p25, row.video_p50) == (611, 1102, 804)
    assert (row.video_p75, row.video_p95, row.video_p100) == (590, 433, 402)
    assert row.video_watch_seconds == 7 * 1520  # average play time x plays
    assert row.attribution_setting == "1d_view,7d_click"
    assert row.result("video_thruplay_watched_actions") == 611
    assert row.result("reach") == 4300
    assert row.result("actions:post_engagement") == 102


def test_a_sales_ad_day_without_video_fields_has_zero_video_not_null() -> None:
    row = parse_ad_row(rows_of("insights_daily_rows_video_links.doc_shapes.json")[1], hourly=False)
    assert (row.video_plays, row.thruplays, row.video_p100, row.video_watch_seconds) == (0,) * 4
    assert row.attribution_setting == "1d_view,7d_click"  # "1d_view_7d_click": same setting
    # The result under the ad set's own setting: the `value` key, never a sum of windows.
    assert row.result("actions:offsite_conversion.fb_pixel_purchase") == 6
    assert row.result("actions:offsite_conversion.custom.2345678901") == 2
    assert row.result("actions:link_click") == 51
    assert row.result("actions:onsite_conversion.messaging_conversation_started_7d") == 0
    assert row.result(None) is None
    assert row.result("estimated_ad_recallers") is None  # a figure metricx does not get


def test_hourly_rows_leave_links_video_and_results_unreported() -> None:
    raw = rows_of("insights_hourly_breakdown_rows.json")[0]
    row = parse_ad_row(raw, hourly=True)
    fact = ad_fact(row, {row.adset_id or "": "actions:link_click"})
    for name in ("link_clicks", "video_plays", "thruplays", "video_watch_seconds", "results"):
        assert getattr(fact, name) is None, name


def test_a_daily_fact_counts_its_ad_sets_result() -> None:
    raw = rows_of("insights_daily_rows_video_links.doc_shapes.json")[1]
    row = parse_ad_row(raw, hourly=False)
    purchase = "actions:offsite_conversion.fb_pixel_purchase"
    assert ad_fact(row, {raw["adset_id"]: purchase}).results == 6
    assert ad_fact(row, {raw["adset_id"]: None}).results is None  # no known result
    assert ad_fact(row, {}).results is None  # ad set not synced yet
    assert ad_fact(row, {}).video_plays == 0


@pytest.mark.parametrize(
    ("goal", "promoted", "expected"),
    [
        (
            "OFFSITE_CONVERSIONS",
            {"custom_event_type": "PURCHASE"},
            "actions:offsite_conversion.fb_pixel_purchase",
        ),
        (
            "OFFSITE_CONVERSIONS",
            {"custom_event_type": "LEAD"},
            "actions:offsite_conversion.fb_pixel_lead",
        ),
        ("OFFSITE_CONVERSIONS", {"pixel_id": "1"}, "actions:offsite_conversion.fb_pixel_purchase"),
        (
            "OFFSITE_CONVERSIONS",
            {"custom_event_type": "SUBSCRIBE"},
            "actions:offsite_conversion.fb_pixel_custom",
        ),
        (
            "OFFSITE_CONVERSIONS",
            {"custom_conversion_id": "77"},
            "actions:offsite_conversion.custom.77",
        ),
        ("LEAD_GENERATION", {"page_id": "1"}, "actions:lead"),
        ("LANDING_PAGE_VIEWS", None, "actions:landing_page_view"),
        ("LINK_CLICKS", None, "actions:link_click"),
        ("POST_ENGAGEMENT", None, "actions:post_engagement"),
        ("CONVERSATIONS", None, "actions:onsite_conversion.messaging_conversation_started_7d"),
        ("APP_INSTALLS", None, "actions:mobile_app_install"),
        ("THRUPLAY", None, "video_thruplay_watched_actions"),
        ("REACH", None, "reach"),
        ("IMPRESSIONS", None, "impressions"),
        ("MEANINGFUL_CALL_ATTEMPT", None, None),  # unknown goal: no result
        (None, None, None),
    ],
)
def test_the_results_table(
    goal: str | None, promoted: dict[str, str] | None, expected: str | None
) -> None:
    assert result_type_for(goal, promoted) == expected


def test_ad_sets_keep_goal_promoted_object_attribution_and_result_type() -> None:
    records = [
        child_record("adset", r, {"120208325579370399": "OUTCOME_SALES"})
        for r in rows_of("adsets_page_with_goals.doc_shapes.json")
    ]
    got = [(r.optimization_goal, r.attribution_setting, r.result_type) for r in records]
    assert got == [
        ("OFFSITE_CONVERSIONS", "1d_view,7d_click", "actions:offsite_conversion.fb_pixel_purchase"),
        ("OFFSITE_CONVERSIONS", "1d_click", "actions:offsite_conversion.custom.2345678901"),
        ("LINK_CLICKS", "7d_click", "actions:link_click"),
        ("REACH", "1d_click,1d_view", "reach"),
        ("MEANINGFUL_CALL_ATTEMPT", None, None),
    ]
    assert records[0].promoted_object == {"pixel_id": "1234567890", "custom_event_type": "PURCHASE"}
    ad = child_record("ad", {"id": "1", "adset_id": "000000000000000"}, {})
    assert (ad.optimization_goal, ad.result_type) == (None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d_click_1d_view", "1d_view,7d_click"),
        ("1d_view_7d_click", "1d_view,7d_click"),
        ("1d_click", "1d_click"),
        ("28d_click_1d_view_1d_ev", "1d_ev,1d_view,28d_click"),
        ("mixed", "mixed"),
        ("", None),
        (None, None),
    ],
)
def test_attribution_settings_compare_by_their_windows(
    value: str | None, expected: str | None
) -> None:
    assert normalized_attribution(value) == expected


def test_attribution_spec_becomes_the_same_tokens() -> None:
    spec = [
        {"event_type": "VIEW_THROUGH", "window_days": 1},
        {"event_type": "CLICK_THROUGH", "window_days": 7},
    ]
    assert attribution_from_spec(spec) == normalized_attribution("7d_click_1d_view")
    assert (
        attribution_from_spec([{"event_type": "ENGAGED_VIDEO_VIEW", "window_days": 1}]) == "1d_ev"
    )
    assert attribution_from_spec(None) is None
    assert attribution_from_spec([{"event_type": "X", "window_days": "junk"}]) is None


def test_money_and_counts_stay_decimal() -> None:
    row = parse_ad_row(rows_of("insights_daily_rows_video_links.doc_shapes.json")[1], hourly=False)
    assert isinstance(row.outbound_clicks, Decimal) and isinstance(row.link_clicks, int)
