"""MetaMetricsFetcher: one ad account's insights as metric facts, account-wide.

One call (or one async report job) per level and window, never one per entity: `act_X/insights`
with `level=ad` returns every ad's rows, paged 5,000 at a time. Facts stream out of a generator
straight into the ingest service, so a window is never held in memory.

- Daily: `time_increment=1`; ad-level spend, impressions, clicks, reach and the action measures
  (integrations/meta/actions.py).
- Hourly: `breakdowns=hourly_stats_aggregated_by_advertiser_time_zone` WITH `time_increment=1`
  (without it Meta sums each hour of the day across the whole range). Each row is a local date
  + local hour of the account's time zone; the ingest service turns it into UTC with the
  connection's zone (half-hour zones included). On the day clocks go back, Meta returns ONE row
  for the repeated hour (both occurrences summed): it is stored as one fact at the first
  occurrence (fold=0), covering two real hours; on the day clocks go forward the missing hour
  has no row. Hourly reach and off-Meta actions are not available from Meta: stored as NULL.
- Reach is not additive (the same person across ads, days or levels counts once), so it is
  fetched per level: daily account, campaign and ad set facts carry ONLY reach (spend,
  impressions and clicks 0, action measures NULL). The query layer sums additive measures from
  the deepest level present (ads), so these rows never add to a sum.
- Account-level insights hide DELETED/ARCHIVED objects unless `filtering` names every
  effective_status: deleted ads delivered and keep accruing actions, so they are included.
- Every row also names its ad set, campaign and account (`adset_id`, `campaign_id`,
  `account_id`: ids as strings, the account's without `act_`). An ad (or ad set) can deliver
  before the entity sync lists it (created since, or left out of Meta's listing); its facts
  carry these as ``FactInput.parents`` and the ingest service files it under them at once, so
  its spend counts at every level; the next entity sync gives it its name and status.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from metricx.ingest.records import FactInput
from metricx.integrations.meta.actions import action_measures, number
from metricx.integrations.meta.client import ALL_EFFECTIVE_STATUSES, MetaAdsClient, act_id
from metricx.integrations.meta.errors import BadRequestError, TransientError

HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
PARENT_FIELDS = ("adset_id", "campaign_id", "account_id")
DAILY_AD_FIELDS = (
    "ad_id",
    *PARENT_FIELDS,
    "objective",
    "spend",
    "impressions",
    "clicks",
    "reach",
    "actions",
    "action_values",
    "date_start",
)
HOURLY_AD_FIELDS = ("ad_id", *PARENT_FIELDS, "spend", "impressions", "clicks", "date_start")
REACH_LEVELS = ("account", "campaign", "adset")
# The ancestors a row of a level names, nearest first.
ANCESTOR_FIELDS = {
    "ad": PARENT_FIELDS,
    "adset": PARENT_FIELDS[1:],
    "campaign": PARENT_FIELDS[2:],
    "account": (),
}


@dataclass(frozen=True)
class FetchOptions:
    page_size: int = 5000
    async_min_rows: int = 50_000  # expected rows above which a report job is used
    first_poll: float = 0.5
    max_poll: float = 10.0


def parse_hour(value: Any) -> int:
    """ "13:00:00 - 13:59:59" -> 13."""
    text = str(value or "")
    hour = int(text.split(":", 1)[0])
    if not 0 <= hour <= 23:
        raise ValueError(f"not an hour bucket: {text!r}")
    return hour


def _count(value: Any) -> int:
    return int(number(value))


def parents_of(row: dict[str, Any], level: str) -> tuple[str, ...] | None:
    """The external ids of the row's ancestors, nearest first, as entities store them (the
    account as `act_<id>`); cut at the first one the row does not name."""
    chain: list[str] = []
    for key in ANCESTOR_FIELDS[level]:
        value = row.get(key)
        if value in (None, ""):
            break
        chain.append(act_id(str(value)) if key == "account_id" else str(value))
    return tuple(chain) or None


class MetaMetricsFetcher:
    """Facts of one ad account. Counts rows read and async jobs used."""

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

    # ---- facts -------------------------------------------------------------------------------

    def ad_facts(self, granularity: str, since: date, until: date) -> Iterator[FactInput]:
        """Every ad's facts of the window (local dates, inclusive)."""
        hourly = granularity == "hour"
        fields = HOURLY_AD_FIELDS if hourly else DAILY_AD_FIELDS
        expected = self.expected_ads * ((until - since).days + 1) * (24 if hourly else 1)
        for row in self.rows_of("ad", fields, since, until, hourly=hourly, expected=expected):
            yield ad_fact(row, hourly=hourly)

    def reach_facts(self, since: date, until: date) -> Iterator[FactInput]:
        """Daily reach of the account, its campaigns and ad sets (reach-only facts)."""
        for level in REACH_LEVELS:
            key = "account_id" if level == "account" else f"{level}_id"
            fields = (key, *ANCESTOR_FIELDS[level], "reach", "date_start")
            for row in self.rows_of(level, fields, since, until, hourly=False, expected=0):
                external = str(row[key])
                if level == "account":
                    external = act_id(external)
                yield FactInput(
                    granularity="day",
                    external_entity_id=external,
                    provider="meta",
                    level=level,
                    event_date=date.fromisoformat(str(row["date_start"])),
                    reach=_count(row.get("reach")),
                    parents=parents_of(row, level),
                )

    # ---- rows ---------------------------------------------------------------------------------

    def rows_of(
        self,
        level: str,
        fields: Sequence[str],
        since: date,
        until: date,
        *,
        hourly: bool,
        expected: int,
    ) -> Iterator[dict[str, Any]]:
        options: dict[str, Any] = {
            "time_range": {"since": since.isoformat(), "until": until.isoformat()},
            "time_increment": 1,
            "page_size": self.options.page_size,
        }
        if hourly:
            options["breakdowns"] = [HOURLY]
        if level != "account":
            options["filtering"] = [
                {
                    "field": f"{level}.effective_status",
                    "operator": "IN",
                    "value": list(ALL_EFFECTIVE_STATUSES),
                }
            ]
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
        except (BadRequestError, TransientError) as exc:
            # Meta refuses too much data for one synchronous call: the report job takes it.
            # Rows already yielded are re-sent by the job; the ingest upsert makes that harmless,
            # and they are counted once: as the job's.
            if not MetaAdsClient.wants_async(exc):
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


def ad_fact(row: dict[str, Any], *, hourly: bool) -> FactInput:
    """One ad-level insights row as a fact."""
    fact = FactInput(
        granularity="hour" if hourly else "day",
        external_entity_id=str(row["ad_id"]),
        provider="meta",
        level="ad",
        event_date=date.fromisoformat(str(row["date_start"])),
        spend=number(row.get("spend")),
        impressions=_count(row.get("impressions")),
        clicks=_count(row.get("clicks")),
        parents=parents_of(row, "ad"),
    )
    if hourly:
        fact.hour = parse_hour(row.get(HOURLY))
        fact.fold = 0  # Meta merges the repeated hour into one row: its first occurrence
        return fact
    fact.reach = _count(row.get("reach"))
    measures = action_measures(row.get("actions"), row.get("action_values"), row.get("objective"))
    fact.conversions = measures.conversions
    fact.leads = measures.leads
    fact.purchases = measures.purchases
    fact.purchase_value = measures.purchase_value
    return fact
