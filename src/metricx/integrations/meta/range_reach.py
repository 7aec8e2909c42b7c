"""Meta's deduplicated reach of accounts, campaigns and ad sets over whole ranges of days.

Reach is not additive (a person reached on Monday and Tuesday counts once in the week), so a
range's reach is asked of Meta for exactly that range: ``time_range={since, until}`` with
``time_increment=all_days``, one account-wide call per level (``level=campaign`` answers every
campaign that delivered in the range, so entities without delivery cost nothing). The calls of
several ranges and levels travel in Meta's batch requests (at most 50 calls per request), so
the standard ranges of an account cost a few HTTP requests (batches are cut by the days
their calls cover, so none runs for long). A sub-answer with more pages is followed page by
page like any edge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from metricx.integrations.meta import insights
from metricx.integrations.meta.client import ALL_EFFECTIVE_STATUSES, MetaAdsClient, act_id
from metricx.integrations.meta.errors import TransientError
from metricx.integrations.meta.insights_rows import (
    REACH_LEVELS,
    count,
    external_id_of,
    parents_of,
)

MAX_BATCH = 50  # Meta's limit of calls per batch request
# A batch's calls run within one HTTP request's time: each call costs about its range's days,
# so a request carries at most this many call-days (a month at all three levels), and the
# standard ranges of an account take about four requests instead of one slow one.
MAX_BATCH_DAYS = 93


@dataclass(frozen=True, slots=True)
class RangeReachRow:
    """An entity's reach and impressions over [since, until] as one Meta row reports them."""

    level: str
    external_id: str
    since: date
    until: date
    reach: int
    impressions: int
    parents: tuple[str, ...] | None


def range_reach_fields(level: str) -> tuple[str, ...]:
    key = "account_id" if level == "account" else f"{level}_id"
    extra = {"campaign": ("account_id",), "adset": ("campaign_id", "account_id")}.get(level, ())
    return (key, *extra, "reach", "impressions", "date_start", "date_stop")


def _params(level: str, since: date, until: date, page_size: int) -> dict[str, Any]:
    filtering = None
    if level != "account":  # deleted/archived objects delivered too (see fetcher.py)
        filtering = [
            {
                "field": f"{level}.effective_status",
                "operator": "IN",
                "value": list(ALL_EFFECTIVE_STATUSES),
            }
        ]
    return insights.build_params(
        level=level,
        fields=range_reach_fields(level),
        time_range={"since": since.isoformat(), "until": until.isoformat()},
        time_increment="all_days",
        filtering=filtering,
        page_size=page_size,
    )


def _row(row: dict[str, Any], level: str, since: date, until: date) -> RangeReachRow:
    return RangeReachRow(
        level=level,
        external_id=external_id_of(row, level),
        since=since,
        until=until,
        reach=count(row.get("reach")),
        impressions=count(row.get("impressions")),
        parents=parents_of(row, level),
    )


def _batches(calls: list[tuple[str, date, date]]) -> Iterator[list[tuple[str, date, date]]]:
    """The calls in order, cut into batches of at most MAX_BATCH calls and MAX_BATCH_DAYS
    call-days (a longer single call goes alone)."""
    part: list[tuple[str, date, date]] = []
    days = 0
    for call in calls:
        cost = (call[2] - call[1]).days + 1
        if part and (len(part) == MAX_BATCH or days + cost > MAX_BATCH_DAYS):
            yield part
            part, days = [], 0
        part.append(call)
        days += cost
    if part:
        yield part


def fetch_range_reach(
    client: MetaAdsClient,
    account_id: str,
    ranges: Sequence[tuple[date, date]],
    *,
    levels: Sequence[str] = REACH_LEVELS,
    page_size: int = 5000,
) -> Iterator[RangeReachRow]:
    """Every account, campaign and ad set row of each range, through batch requests; a
    sub-call Meta failed is asked again on its own (a lasting failure raises its typed error;
    the caller retries the whole set: storing it is idempotent)."""
    account = act_id(account_id)
    calls = [(level, since, until) for since, until in ranges for level in levels]
    for part in _batches(calls):
        params = [_params(level, since, until, page_size) for level, since, until in part]
        batch = [
            {"method": "GET", "relative_url": f"{account}/insights?{urlencode(p)}"} for p in params
        ]
        body = client.transport.request("POST", (), {"batch": json.dumps(batch)})
        answers = body.get("batch")
        if not isinstance(answers, list) or len(answers) != len(part):
            raise TransientError("Meta's batch answer does not hold one answer per call")
        for (level, since, until), sub_params, answer in zip(part, params, answers, strict=True):
            if not isinstance(answer, dict) or answer.get("code") != 200:
                # A failed sub-call is asked again on its own, through the transport's retries
                # and throttling waits (a lasting failure raises its typed error there).
                for rows in client.transport.pages((account, "insights"), sub_params):
                    for row in rows:
                        yield _row(row, level, since, until)
                continue
            try:
                page = json.loads(answer.get("body") or "{}")
            except ValueError:
                raise TransientError("Meta sent a batched answer that is not JSON") from None
            for row in page.get("data") or []:
                yield _row(row, level, since, until)
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if paging.get("next") and after:
                more = dict(sub_params, after=after)
                for rows in client.transport.pages((account, "insights"), more):
                    for row in rows:
                        yield _row(row, level, since, until)
