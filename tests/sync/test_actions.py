"""The action-type mapping table, on Meta's real payloads and on the overlaps it must not sum."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from metricx.integrations.meta.actions import action_measures
from metricx.integrations.meta.insights_rows import parse_ad_row, parse_hour
from metricx.sync.facts import ad_fact

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "meta"


def acts(**counts: int) -> list[dict[str, str]]:
    return [{"action_type": k.replace("__", "."), "value": str(v)} for k, v in counts.items()]


def test_purchase_overlaps_are_never_summed() -> None:
    actions = acts(
        omni_purchase=5, purchase=5, offsite_conversion__fb_pixel_purchase=5, link_click=90
    )
    values = acts(omni_purchase=250, purchase=250, offsite_conversion__fb_pixel_purchase=250)
    m = action_measures(actions, values, "OUTCOME_SALES")
    assert (m.purchases, m.purchase_value, m.conversions) == (5, 250, 5)


def test_pixel_purchase_alone_still_counts() -> None:
    m = action_measures(acts(offsite_conversion__fb_pixel_purchase=3), [], "CONVERSIONS")
    assert m.purchases == 3 and m.conversions == 3


def test_lead_aggregate_wins_over_its_parts() -> None:
    both = acts(lead=7, onsite_conversion__lead_grouped=4, offsite_conversion__fb_pixel_lead=3)
    assert action_measures(both, [], "OUTCOME_LEADS").leads == 7
    parts = acts(onsite_conversion__lead_grouped=4, offsite_conversion__fb_pixel_lead=3)
    m = action_measures(parts, [], "LEAD_GENERATION")
    assert m.leads == 7 and m.conversions == 7 and m.purchases == 0


@pytest.mark.parametrize(
    ("objective", "expected"),
    [
        ("OUTCOME_SALES", 2),
        ("OUTCOME_LEADS", 4),
        ("OUTCOME_APP_PROMOTION", 6),
        ("OUTCOME_TRAFFIC", 0),
        ("OUTCOME_AWARENESS", 0),
        (None, 2),
    ],
)
def test_the_conversion_follows_the_campaign_goal(objective: str | None, expected: int) -> None:
    actions = acts(purchase=2, lead=4, mobile_app_install=6, landing_page_view=30)
    assert action_measures(actions, [], objective).conversions == expected


def test_real_daily_row_without_conversions_maps_to_zero() -> None:
    rows = json.loads((PAYLOADS / "insights_daily_rows_with_actions.json").read_text())["data"]
    fact = ad_fact(parse_ad_row(rows[0], hourly=False))
    assert fact.spend == Decimal("14.35") and fact.impressions == 185 and fact.clicks == 9
    assert (fact.conversions, fact.leads, fact.purchases) == (0, 0, 0)


def test_real_hourly_row_stores_no_action_measures_and_no_reach() -> None:
    rows = json.loads((PAYLOADS / "insights_hourly_breakdown_rows.json").read_text())["data"]
    fact = ad_fact(parse_ad_row(rows[0], hourly=True))
    assert fact.granularity == "hour" and fact.hour is not None and fact.fold == 0
    assert fact.reach is None and fact.conversions is None and fact.purchase_value is None


def test_hour_bucket_label_parses() -> None:
    assert parse_hour("00:00:00 - 00:59:59") == 0
    assert parse_hour("23:00:00 - 23:59:59") == 23
    with pytest.raises(ValueError):
        parse_hour("24:00:00 - 24:59:59")
