"""MetaInsightsFetcher: one ad account's insights as typed rows (insights_rows.py), account-wide.

One call (or one async report job) per level and window, never one per entity: `act_X/insights`
with `level=ad` returns every ad's rows, paged. Rows stream out of generators.

- Daily: `time_increment=1`; ad-level spend, impressions, clicks, reach and the action measures.
- Hourly: `breakdowns=hourly_stats_aggregated_by_advertiser_time_zone` WITH `time_increment=1`
  (without it Meta sums each hour of the day across the whole range). On the day clocks go
  back, Meta returns ONE row for the repeated hour (both occurrences summed); on the day
  clocks go forward the missing hour has no row.
- Reach is not additive (the same person across ads, days or levels counts once), so it is
  fetched per level (account, campaign, ad set).
- Account-level insights hide DELETED/ARCHIVED objects unless `filtering` names every
  effective_status: deleted ads delivered and keep accruing actions, so they are included.
- A synchronous call Meta refuses as too much data (errors.is_too_much_data) is taken over by
  an async report job.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from metricx.facts.breakdowns import BREAKDOWN_SETS, BreakdownRow
from metricx.integrations.meta.action_rows import ACTION_FIELDS, AdDayActions, parse_ad_day_actions
from metricx.integrations.meta.breakdown_rows import (
    ACTION_BREAKDOWNS,
    BREAKDOWN_AD_FIELDS,
    BREAKDOWN_FIELDS_WITHOUT_REACH,
    parse_breakdown_row,
)
from metricx.integrations.meta.client import ALL_EFFECTIVE_STATUSES, MetaAdsClient, act_id
from metricx.integrations.meta.errors import MetaError, is_reach_allowance_spent, is_too_much_data
from metricx.integrations.meta.insights_rows import (
    DAILY_AD_FIELDS,
    HOURLY,
    HOURLY_AD_FIELDS,
    REACH_LEVELS,
    AdInsightsRow,
    LevelTotalsRow,
    ReachRow,
    parse_ad_row,
    parse_reach_row,
    parse_totals_row,
    reach_fields,
    totals_fields,
)


@dataclass(frozen=True)
class FetchOptions:
    page_size: int = 5000
    async_min_rows: int = 50_000  # expected rows above which a report job is used
    first_poll: float = 0.5
    max_poll: float = 10.0
    # Asked on the daily ad-level rows: every action type's figure per window (action_rows.py).
    attribution_windows: tuple[str, ...] = ()


class MetaInsightsFetcher:
    """Insights rows of one ad account. Counts rows read and async jobs used."""

    def __init__(
        self,
        client: MetaAdsClient,
        *,
        account_id: str,
        expected_ads: int = 0,
        options: FetchOptions | None = None,
    ) -> None:
        self.client = client
        self.account = act_id(account_id)
        self.expected_ads = expected_ads
        self.options = options or FetchOptions()
        self.rows = 0
        self.async_jobs = 0

    def ad_rows(
        self, granularity: str, since: date, until: date, campaigns: Sequence[str] | None = None
    ) -> Iterator[AdInsightsRow]:
        """Every ad's rows of the window (local dates, inclusive), daily or hourly; only the
        ads of ``campaigns`` (external ids) when given."""
        if granularity != "hour":
            yield from (row for row, _ in self.ad_day_rows(since, until, campaigns))
            return
        expected = self.expected_ads * ((until - since).days + 1) * 24
        for row in self.raw_rows(
            "ad",
            HOURLY_AD_FIELDS,
            since,
            until,
            hourly=True,
            expected=expected,
            campaigns=campaigns,
        ):
            yield parse_ad_row(row, hourly=True)

    def ad_day_rows(
        self, since: date, until: date, campaigns: Sequence[str] | None = None
    ) -> Iterator[tuple[AdInsightsRow, AdDayActions]]:
        """Every ad's daily rows of the window, each with all its action figures (every
        action type under the default attribution and each of ``attribution_windows``)."""
        fields = tuple(dict.fromkeys((*DAILY_AD_FIELDS, *ACTION_FIELDS)))
        expected = self.expected_ads * ((until - since).days + 1)
        windows = self.options.attribution_windows
        for row in self.raw_rows(
            "ad",
            fields,
            since,
            until,
            hourly=False,
            expected=expected,
            windows=windows,
            campaigns=campaigns,
        ):
            yield parse_ad_row(row, hourly=False), parse_ad_day_actions(row)

    def breakdown_rows(
        self,
        breakdown: str,
        since: date,
        until: date,
        campaigns: Sequence[str] | None = None,
        result_types: Mapping[str, str | None] | None = None,
    ) -> Iterator[BreakdownRow]:
        """Every ad's daily rows of the window for one breakdown set (a name of
        BREAKDOWN_SETS), always through a report job (each row becomes several: the sync
        endpoint's data-per-call limit comes fast); only the ads of ``campaigns`` when given.
        When Meta refuses reach for old days (its daily allowance of such jobs is spent), the
        rows without reach: a later daily pass asks again (sync/plan.py, reach_revisits)."""
        read = 0
        try:
            for row in self._breakdown_rows(breakdown, since, until, campaigns, reach=True):
                read += 1
                yield parse_breakdown_row(row, breakdown, result_types)
        except MetaError as err:
            if read or not is_reach_allowance_spent(err):
                raise
            for row in self._breakdown_rows(breakdown, since, until, campaigns, reach=False):
                yield parse_breakdown_row(row, breakdown, result_types)

    def _breakdown_rows(
        self,
        breakdown: str,
        since: date,
        until: date,
        campaigns: Sequence[str] | None,
        *,
        reach: bool,
    ) -> Iterator[dict[str, Any]]:
        fields = BREAKDOWN_AD_FIELDS if reach else BREAKDOWN_FIELDS_WITHOUT_REACH
        return self.raw_rows(
            "ad",
            fields,
            since,
            until,
            hourly=False,
            expected=self.options.async_min_rows + 1,
            campaigns=campaigns,
            breakdowns=BREAKDOWN_SETS[breakdown],
        )

    def reach_rows(self, since: date, until: date) -> Iterator[ReachRow]:
        """Daily reach of the account, its campaigns and ad sets."""
        for level in REACH_LEVELS:
            fields = reach_fields(level)
            for row in self.raw_rows(level, fields, since, until, hourly=False, expected=0):
                yield parse_reach_row(row, level)

    def level_totals(self, level: str, since: date, until: date) -> list[LevelTotalsRow]:
        """Meta's daily spend, impressions and clicks of every object of ``level`` (account,
        campaign or ad set), deleted objects included as the sync includes their ads."""
        rows = self.raw_rows(level, totals_fields(level), since, until, hourly=False, expected=0)
        return [parse_totals_row(row, level) for row in rows]

    # ---- Meta's rows ---------------------------------------------------------------------------

    def raw_rows(
        self,
        level: str,
        fields: Sequence[str],
        since: date,
        until: date,
        *,
        hourly: bool,
        expected: int,
        windows: Sequence[str] = (),
        campaigns: Sequence[str] | None = None,
        breakdowns: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        options: dict[str, Any] = {
            "time_range": {"since": since.isoformat(), "until": until.isoformat()},
            "time_increment": 1,
            "page_size": self.options.page_size,
        }
        if hourly:
            options["breakdowns"] = [HOURLY]
        elif breakdowns:
            options["breakdowns"] = list(breakdowns)
            options["action_breakdowns"] = list(ACTION_BREAKDOWNS)
        if windows:
            options["action_attribution_windows"] = list(windows)
        if level != "account":
            options["filtering"] = [
                {
                    "field": f"{level}.effective_status",
                    "operator": "IN",
                    "value": list(ALL_EFFECTIVE_STATUSES),
                }
            ]
            if campaigns is not None:
                options["filtering"].append(
                    {"field": "campaign.id", "operator": "IN", "value": list(campaigns)}
                )
        if expected > self.options.async_min_rows:
            yield from self._async_rows(level, fields, options)
            return
        read = 0
        try:
            for row in self.client.get_insights(
                self.account, level=level, fields=fields, **options
            ):
                read += 1
                self.rows += 1
                yield row
        except MetaError as exc:
            # Meta refuses too much data for one synchronous call: the report job takes it.
            # Rows already yielded are re-sent by the job; the ingest upsert makes that harmless,
            # and they are counted once: as the job's.
            if not is_too_much_data(exc):
                raise
            self.rows -= read
            yield from self._async_rows(level, fields, options)

    def _async_rows(
        self, level: str, fields: Sequence[str], options: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        params = dict(options)
        page_size = int(params.pop("page_size"))
        run_id = self.client.start_async_insights(
            self.account, level=level, fields=fields, **params
        )
        self.async_jobs += 1
        self.client.wait_for_report(
            run_id, first_poll=self.options.first_poll, max_poll=self.options.max_poll
        )
        for row in self.client.iter_report_results(run_id, page_size=page_size):
            self.rows += 1
            yield row
