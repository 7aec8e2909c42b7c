"""The `unlisted_ids` fault, through the real SDK: an ad that delivers while Meta's listing
edges leave it out; its insights rows name its ad set, campaign and account."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.campaign import Campaign

from tests.sandbox.conftest import ALL_STATUSES, START, Sandbox

EVERYTHING = {"effective_status": ALL_STATUSES, "limit": 7}


def _window() -> dict[str, Any]:
    until = START.date()
    return {"since": (until - timedelta(days=6)).isoformat(), "until": until.isoformat()}


def _top_spender(sandbox: Sandbox, account_id: str) -> str:
    truth = sandbox.truth(account_id=account_id, level="ad", granularity="day", **_window())
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for row in truth["rows"]:
        spend[row["entity_id"]] += Decimal(row["spend"])
    return max(spend, key=lambda ad: (spend[ad], ad))


def test_an_unlisted_ad_is_left_out_of_every_listing_but_delivers(sandbox: Sandbox) -> None:
    api = sandbox.api()
    account_id = sandbox.account("EUR")
    account = AdAccount(account_id, api=api)
    hidden = _top_spender(sandbox, account_id)
    [listed] = [
        a
        for a in account.get_ads(fields=["id", "adset_id", "campaign_id"], params=EVERYTHING)
        if a["id"] == hidden
    ]

    sandbox.faults(unlisted_ids=[hidden])

    def ids(listing: Any) -> set[str]:
        return {a["id"] for a in listing.get_ads(fields=["id"], params=EVERYTHING)}

    ads = ids(account)
    in_adset = ids(AdSet(listed["adset_id"], api=api))
    in_campaign = ids(Campaign(listed["campaign_id"], api=api))
    assert hidden not in ads | in_adset | in_campaign
    total = next(a["ads"] for a in sandbox.info()["accounts"] if a["id"] == account_id)
    assert in_adset and len(ads) == total - 1
    by_id = sandbox.http.get(
        f"/v25.0/{hidden}", params={"access_token": sandbox.token, "fields": "name,adset_id"}
    ).json()
    assert by_id["adset_id"] == listed["adset_id"] and by_id["name"]

    rows = [
        dict(r)
        for r in account.get_insights(
            fields=["ad_id", "adset_id", "campaign_id", "account_id", "spend"],
            params={
                "level": "ad",
                "time_range": _window(),
                "time_increment": 1,
                "filtering": [
                    {"field": "ad.effective_status", "operator": "IN", "value": ALL_STATUSES}
                ],
            },
        )
    ]
    assert rows and all(
        isinstance(r[k], str) for r in rows for k in ("ad_id", "adset_id", "campaign_id")
    )
    assert {r["account_id"] for r in rows} == {account_id.removeprefix("act_")}
    mine = [r for r in rows if r["ad_id"] == hidden]
    assert {(r["adset_id"], r["campaign_id"]) for r in mine} == {
        (listed["adset_id"], listed["campaign_id"])
    }
    truth = sandbox.truth(account_id=account_id, level="ad", granularity="day", **_window())
    assert (
        sum(Decimal(r["spend"]) for r in mine)
        == sum(Decimal(t["spend"]) for t in truth["rows"] if t["entity_id"] == hidden)
        > 0
    )
