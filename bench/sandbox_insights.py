"""Benchmark: 1,000 ads x 30 days of hourly insights from the sandbox, page by page.

Starts a sandbox in-process (uvicorn thread), then pulls act_X/insights?level=ad with the
hourly advertiser-time-zone breakdown and time_increment=1 through the real facebook-business
SDK, following cursors. Prints rows/s, elapsed and peak RSS. Target: under 60 s, flat memory.

    .venv/bin/python bench/sandbox_insights.py [--ads-per-adset 8] [--limit 500]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime, timedelta

from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.api import FacebookAdsApi, FacebookSession
from rss import max_rss_mib  # bench/rss.py (the scripts run from bench/)

from metricx.sandbox.config import SandboxConfig
from metricx.sandbox.server import run_in_thread
from metricx.sandbox.tokens import ALL_SCOPES, mint_user_token, sandbox_user_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=25)
    parser.add_argument("--adsets-per-campaign", type=int, default=5)
    parser.add_argument("--ads-per-adset", type=int, default=8)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--limit", type=int, default=500)
    args = parser.parse_args()
    now = datetime(2026, 3, 20, 12, tzinfo=UTC)
    config = SandboxConfig(
        seed=11,
        accounts=1,
        campaigns=args.campaigns,
        adsets_per_campaign=args.adsets_per_campaign,
        ads_per_adset=args.ads_per_adset,
        days=args.days + 30,
        tier="standard",
        clock=now,
        frozen_clock=True,
    )
    url, stop = run_in_thread(config)
    try:
        FacebookSession.GRAPH = url
        token = mint_user_token(
            config.seed,
            user_id=sandbox_user_id(config.seed),
            app_id=config.app_id,
            scopes=ALL_SCOPES,
            issued_at=int(now.timestamp()),
            ttl=0,
        )
        api = FacebookAdsApi(
            FacebookSession(config.app_id, config.app_secret, token, timeout=(5, 120)),
            api_version="v25.0",
        )
        account = AdAccount(f"act_1{config.seed:05d}{1:09d}", api=api)
        until = date(2026, 3, 19)
        since = until - timedelta(days=args.days - 1)
        statuses = [
            "ACTIVE",
            "PAUSED",
            "DELETED",
            "ARCHIVED",
            "CAMPAIGN_PAUSED",
            "ADSET_PAUSED",
            "PENDING_REVIEW",
            "WITH_ISSUES",
        ]
        params = {
            "level": "ad",
            "time_increment": 1,
            "limit": args.limit,
            "breakdowns": ["hourly_stats_aggregated_by_advertiser_time_zone"],
            "time_range": {"since": since.isoformat(), "until": until.isoformat()},
            "filtering": [{"field": "ad.effective_status", "operator": "IN", "value": statuses}],
        }
        n_ads = args.campaigns * args.adsets_per_campaign * args.ads_per_adset
        print(f"sandbox {url}: {n_ads} ads x {args.days} days hourly, limit {args.limit}")
        rss_start = max_rss_mib()
        t0 = time.perf_counter()
        rows = 0
        spend = 0.0
        for row in account.get_insights(
            fields=["ad_id", "impressions", "clicks", "spend", "actions"], params=params
        ):
            rows += 1
            spend += float(row["spend"])
            if rows % 100_000 == 0:
                print(
                    f"  {rows} rows, {time.perf_counter() - t0:.1f} s,"
                    f" peak RSS {max_rss_mib():.0f} MiB"
                )
        elapsed = time.perf_counter() - t0
        print(
            f"rows={rows} elapsed={elapsed:.1f}s rows/s={rows / elapsed:,.0f}"
            f" peak_rss={max_rss_mib():.0f}MiB (at start {rss_start:.0f}MiB)"
            f" grid={n_ads * args.days * 24} spend_total={spend:,.2f}"
        )
        print(
            "baseline: target < 60 s for 1,000 ads x 30 days, flat RSS (server + client in"
            " one process)"
        )
    finally:
        stop()


if __name__ == "__main__":
    main()
