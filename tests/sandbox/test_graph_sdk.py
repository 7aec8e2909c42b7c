"""Entity edges and sync insights through the real SDK, reconciled with /_sandbox/truth."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.campaign import Campaign

from tests.sandbox.conftest import ALL_STATUSES, Sandbox

HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"


def test_sdk_pages_whole_hierarchy_with_small_pages(sandbox: Sandbox) -> None:
    api = sandbox.api()
    info = sandbox.info()
    for acc in info["accounts"]:
        account = AdAccount(acc["id"], api=api)
        everything = {
            "filtering": [
                {"field": "ad.effective_status", "operator": "IN", "value": ALL_STATUSES}
            ],
            "limit": 5,
        }
        ads = list(
            account.get_ads(fields=["id", "effective_status", "adset_id"], params=everything)
        )
        assert len(ads) == acc["ads"]
        assert len({a["id"] for a in ads}) == acc["ads"]
        visible = list(account.get_ads(fields=["id", "effective_status"], params={"limit": 4}))
        assert all(a["effective_status"] not in ("DELETED", "ARCHIVED") for a in visible)
        assert len(visible) == sum(
            a["effective_status"] not in ("DELETED", "ARCHIVED") for a in ads
        )
        campaigns = list(
            account.get_campaigns(
                fields=["id", "objective", "created_time"],
                params={"limit": 1, "effective_status": ALL_STATUSES},
            )
        )
        assert len(campaigns) == acc["campaigns"]
        assert campaigns[0]["created_time"][-5] in "+-"  # "...-0700": offset without colon


def test_single_object_and_unknown_field(sandbox: Sandbox) -> None:
    api = sandbox.api()
    account = AdAccount(sandbox.account("JPY"), api=api)
    first = next(iter(account.get_campaigns(fields=["id"])))
    camp = Campaign(first["id"], api=api).api_get(fields=["name", "objective", "daily_budget"])
    assert isinstance(camp["daily_budget"], str)
    resp = sandbox.http.get(
        f"/v25.0/{first['id']}", params={"access_token": sandbox.token, "fields": "nope"}
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 100


def _minor(value: str, exponent: int) -> int:
    return int(Decimal(value).scaleb(exponent))


def test_hourly_rows_sum_exactly_to_daily_rows_and_truth_across_dst(sandbox: Sandbox) -> None:
    api = sandbox.api()
    act = sandbox.account("USD")  # America/Los_Angeles: 2026-03-08 has 23 hours
    account = AdAccount(act, api=api)
    window = {"since": "2026-03-06", "until": "2026-03-10"}
    fields = ["ad_id", "spend", "impressions", "clicks", "reach", "actions"]
    base = {
        "level": "ad",
        "time_range": window,
        "time_increment": 1,
        "limit": 100,
        "filtering": [{"field": "ad.effective_status", "operator": "IN", "value": ALL_STATUSES}],
    }
    daily = list(account.get_insights(fields=fields, params=base))
    hourly = list(account.get_insights(fields=fields, params={**base, "breakdowns": [HOURLY]}))
    assert daily and hourly
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in hourly:
        assert isinstance(row["spend"], str) and row["reach"] == "0"
        assert not any(
            a["action_type"].startswith("offsite_conversion.") for a in row.get("actions", [])
        )
        key = (row["ad_id"], row["date_start"])
        sums[key][0] += _minor(row["spend"], 2)
        sums[key][1] += int(row["impressions"])
        sums[key][2] += int(row["clicks"])
    assert not any(
        r["date_start"] == "2026-03-08" and r[HOURLY].startswith("02:") for r in hourly
    )  # the skipped hour has no row
    truth = sandbox.truth(
        account_id=act, level="ad", granularity="day", since="2026-03-06", until="2026-03-10"
    )["rows"]
    by_truth = {(r["entity_id"], r["date"]): r for r in truth}
    assert len(daily) == len(by_truth) == len(sums)
    for row in daily:
        key = (row["ad_id"], row["date_start"])
        assert sums[key] == [_minor(row["spend"], 2), int(row["impressions"]), int(row["clicks"])]
        t = by_truth[key]
        assert (t["spend"], t["impressions"], t["clicks"]) == (
            row["spend"],
            int(row["impressions"]),
            int(row["clicks"]),
        )
        assert 0 < int(row["reach"]) < int(row["impressions"]) or int(row["impressions"]) == 1


def test_multi_day_hourly_without_increment_sums_each_hour_across_days(sandbox: Sandbox) -> None:
    act = sandbox.account("INR")  # Asia/Kolkata, +05:30
    account = AdAccount(act, api=sandbox.api())
    rows = list(
        account.get_insights(
            fields=["impressions", "spend"],
            params={
                "level": "account",
                "breakdowns": [HOURLY],
                "limit": 50,
                "time_range": {"since": "2026-03-01", "until": "2026-03-03"},
            },
        )
    )
    truth = sandbox.truth(
        account_id=act, level="account", granularity="hour", since="2026-03-01", until="2026-03-03"
    )["rows"]
    expected: dict[int, int] = defaultdict(int)
    for r in truth:
        expected[r["hour"]] += r["impressions"]
        assert r["utc_start"].endswith(":30:00+00:00")
    got = {int(r[HOURLY][:2]): int(r["impressions"]) for r in rows}
    assert all(r["date_start"] == "2026-03-01" and r["date_stop"] == "2026-03-03" for r in rows)
    assert got == dict(expected)


def test_account_insights_at_ad_level_hide_deleted_unless_filtered(sandbox: Sandbox) -> None:
    act = sandbox.account("EUR")
    account = AdAccount(act, api=sandbox.api())
    window = {"since": "2026-02-10", "until": "2026-03-19"}
    plain = list(
        account.get_insights(
            fields=["ad_id", "impressions"],
            params={"level": "ad", "time_range": window, "limit": 200},
        )
    )
    filtered = list(
        account.get_insights(
            fields=["ad_id", "impressions"],
            params={
                "level": "ad",
                "time_range": window,
                "limit": 200,
                "filtering": [
                    {"field": "ad.effective_status", "operator": "IN", "value": ALL_STATUSES}
                ],
            },
        )
    )
    total = sandbox.truth(
        account_id=act, level="account", granularity="day", since="2026-02-10", until="2026-03-19"
    )["rows"]
    truth_total = sum(r["impressions"] for r in total)
    assert sum(int(r["impressions"]) for r in filtered) == truth_total
    assert sum(int(r["impressions"]) for r in plain) < truth_total
    assert {r["ad_id"] for r in plain} < {r["ad_id"] for r in filtered}


def test_after_cursor_next_link_and_empty_result(sandbox: Sandbox) -> None:
    act = sandbox.account("USD")
    params = {"access_token": sandbox.token, "limit": "2", "fields": "id"}
    first = sandbox.http.get(f"/v25.0/{act}/adsets", params=params).json()
    assert "next" in first["paging"] and first["paging"]["cursors"]["after"]
    second = sandbox.http.get(
        f"/v25.0/{act}/adsets", params={**params, "after": first["paging"]["cursors"]["after"]}
    ).json()
    assert not {a["id"] for a in first["data"]} & {a["id"] for a in second["data"]}
    empty = sandbox.http.get(
        f"/v25.0/{act}/insights",
        params={
            "access_token": sandbox.token,
            "time_range": json.dumps({"since": "2027-01-01", "until": "2027-01-02"}),
        },
    ).json()
    assert empty == {"data": []}
