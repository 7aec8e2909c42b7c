"""Every action type x window of a daily ad row, and custom conversions, on Meta's shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from metricx.config import Settings
from metricx.integrations.meta.action_rows import (
    action_figures,
    custom_action_id,
    normalize_setting,
    parse_ad_day_actions,
    parse_custom_conversion,
)

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "meta"


def rows() -> list[dict]:  # type: ignore[type-arg]
    return json.loads((PAYLOADS / "insights_daily_rows_with_windows.json").read_text())["data"]


def test_every_type_and_window_is_kept_with_counts_and_values() -> None:
    day = parse_ad_day_actions(rows()[0])
    got = {(f.action_type, f.window): (f.count, f.value) for f in day.figures}
    purchase = "offsite_conversion.fb_pixel_purchase"
    assert got[(purchase, "default")] == (Decimal(6), Decimal("311.50"))
    assert got[(purchase, "7d_click")] == (Decimal(5), Decimal("262.00"))
    assert got[(purchase, "28d_click")] == (Decimal(7), Decimal("330.10"))
    assert got[(purchase, "1d_view")] == (Decimal(1), Decimal("49.50"))
    assert got[("video_view", "1d_ev")] == (Decimal(12), None)
    assert got[("link_click", "default")] == (Decimal(88), None)
    # A window key Meta left out is no figure, not a zero.
    assert ("link_click", "7d_click") not in got
    assert len(day.figures) == 2 + 5 + 3 + 4
    assert day.attribution_setting == "1d_view,7d_click"
    assert (day.ad_id, day.day.isoformat()) == ("123", "2026-03-01")


def test_a_row_without_actions_has_no_figures_but_keeps_its_setting() -> None:
    day = parse_ad_day_actions(rows()[1])
    assert day.figures == () and day.attribution_setting == "1d_click"


def test_a_type_repeated_by_action_breakdowns_is_summed() -> None:
    figures = action_figures(
        [
            {"action_type": "link_click", "value": "3", "1d_click": "3", "action_device": "a"},
            {"action_type": "link_click", "value": "4", "1d_click": "4", "action_device": "b"},
        ],
        None,
    )
    assert {(f.window, f.count) for f in figures} == {("default", 7), ("1d_click", 7)}


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("7d_click_1d_view", "1d_view,7d_click"),
        ("1d_view_7d_click", "1d_view,7d_click"),
        ("1d_click", "1d_click"),
        ("28d_click_1d_view_1d_ev", "1d_ev,1d_view,28d_click"),
        ("", None),
        (None, None),
        ("SKAN", "SKAN"),
    ],
)
def test_attribution_settings_are_normalised(raw: str | None, normal: str | None) -> None:
    assert normalize_setting(raw) == normal


def test_custom_conversions_parse_from_the_edge_page() -> None:
    page = json.loads((PAYLOADS / "customconversions_page.json").read_text())["data"]
    first, second = (parse_custom_conversion(r, "act_1001") for r in page)
    assert first.external_id == "2345678901" and first.name == "Thank-you page"
    assert first.account_external_id == "act_1001"
    assert first.custom_event_type == "PURCHASE" and first.rule and "thank-you" in first.rule
    assert first.default_conversion_value == 40 and not first.is_archived
    assert first.creation_time == datetime(2025, 11, 4, 10, 12, 33, tzinfo=UTC)
    assert second.is_archived and not second.is_unavailable
    assert custom_action_id("offsite_conversion.custom.2345678901") == "2345678901"
    assert custom_action_id("offsite_conversion.fb_pixel_purchase") is None


def test_attribution_windows_setting_refuses_unknown_and_retired_tokens() -> None:
    assert Settings().attribution_windows == ("1d_click", "7d_click", "28d_click", "1d_view", "1d_ev")
    assert Settings(meta_attribution_windows=" 7d_click, 1d_view ").attribution_windows == (
        "7d_click",
        "1d_view",
    )
    with pytest.raises(ValidationError, match=r"7d_view \(retired by Meta"):
        Settings(meta_attribution_windows="1d_click,7d_view")
    with pytest.raises(ValidationError, match="unknown attribution window.*7d_clik"):
        Settings(meta_attribution_windows="7d_clik")
