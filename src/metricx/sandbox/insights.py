"""`/{id}/insights`: parameters, the row grid, and page-at-a-time row generation.

Rows are never materialised: a query defines a grid (entity x period x hour-of-day) and a
page scans grid positions from the cursor, skipping cells with no delivery, so memory stays
constant whatever the range. Hourly rows are summed from the same per-(ad, hour) numbers as
daily rows, so they reconcile exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from metricx.sandbox import breakdowns as bd
from metricx.sandbox import delivery as dv
from metricx.sandbox import errors
from metricx.sandbox.generator import Account, Ad, AdSet, Campaign
from metricx.sandbox.objects import build_filter, parse_json_param, split_fields

HOURLY_BREAKDOWNS = (
    "hourly_stats_aggregated_by_advertiser_time_zone",
    "hourly_stats_aggregated_by_audience_time_zone",
)
WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view", "1d_ev", "dda", "default")
LEVELS = ("account", "campaign", "adset", "ad")
ID_FIELDS = {
    "account_id",
    "account_name",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
}
METRIC_FIELDS = {
    "impressions",
    "clicks",
    "spend",
    "reach",
    "frequency",
    "cpm",
    "cpc",
    "ctr",
    "inline_link_clicks",
    "inline_post_engagement",
    "unique_clicks",
    "actions",
    "action_values",
    "cost_per_action_type",
    "account_currency",
    "objective",
    "optimization_goal",
    "buying_type",
    "date_start",
    "date_stop",
    "cost_per_inline_link_click",
    "inline_link_click_ctr",
    "purchase_roas",
    # issue 16
    "attribution_setting",
    "outbound_clicks",
    "outbound_clicks_ctr",
    "cost_per_outbound_click",
    "cost_per_thruplay",
    "results",
    "cost_per_result",
}
VIDEO_COUNT_FIELDS = {
    "video_play_actions": dv.VSTART,
    "video_thruplay_watched_actions": dv.THRU,
    "video_p25_watched_actions": dv.P25,
    "video_p50_watched_actions": dv.P50,
    "video_p75_watched_actions": dv.P75,
    "video_p95_watched_actions": dv.P95,
    "video_p100_watched_actions": dv.P100,
}
VIDEO_FIELDS = {*VIDEO_COUNT_FIELDS, "video_avg_time_watched_actions", "cost_per_thruplay"}
METRIC_FIELDS |= VIDEO_FIELDS
# fields needing the issue-16 figures (delivery's `full` vectors); others sum the base ones
FULL_FIELDS = {
    *VIDEO_FIELDS,
    "actions",
    "action_values",
    "cost_per_action_type",
    "purchase_roas",
    "outbound_clicks",
    "outbound_clicks_ctr",
    "cost_per_outbound_click",
    "results",
    "cost_per_result",
}
# action figures that depend on the attribution setting: not aggregated across settings
ATTRIBUTED_FIELDS = ("actions", "action_values", "cost_per_action_type", "purchase_roas")
DEFAULT_FIELDS = ("account_id", "impressions", "spend")
PRESETS = {
    "last_3d": 3,
    "last_7d": 7,
    "last_14d": 14,
    "last_28d": 28,
    "last_30d": 30,
    "last_90d": 90,
}
Node = Account | Campaign | AdSet | Ad
Entity = Account | Campaign | AdSet | Ad


@dataclass
class InsightsQuery:
    account: Account
    level: str
    fields: list[str]
    since: date
    until: date
    periods: list[tuple[date, date]]
    hourly: str  # the hourly breakdown's name, or ""
    windows: list[str]
    entities: list[Entity]
    as_of: int  # epoch seconds: the data is what Meta held at this instant
    params: dict[str, str] = field(default_factory=dict)
    # issue 17: a demographic/placement/device breakdown's fields (breakdowns.py), or ()
    breakdown: tuple[str, ...] = ()
    reach_withheld: bool = False  # a breakdown query starting > 13 months back: no reach
    hidden_below: int = bd.DEFAULT_HIDDEN_BELOW  # set by the graph from the fault settings

    @property
    def type1(self) -> bool:
        """Meta's "Type 1" breakdowns (hourly, region): no off-Meta actions."""
        return bool(self.hourly) or not bd.TYPE1.isdisjoint(self.breakdown)

    @property
    def full(self) -> bool:
        return not FULL_FIELDS.isdisjoint(self.fields)

    @property
    def hours(self) -> int:
        return 24 if self.hourly else 1

    @property
    def size(self) -> int:
        return len(self.entities) * len(self.periods) * self.hours


def node_level(node: Node) -> str:
    return (
        "account"
        if isinstance(node, Account)
        else "campaign"
        if isinstance(node, Campaign)
        else "adset"
        if isinstance(node, AdSet)
        else "ad"
    )


def _list_param(params: dict[str, str], name: str) -> list[str]:
    raw = params.get(name)
    if not raw:
        return []
    if raw.strip().startswith("["):
        value = parse_json_param(params, name)
        return [str(v) for v in value or []]
    return [v.strip() for v in raw.split(",") if v.strip()]


def _date(text: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise errors.invalid_param(f"{name} must be a date in YYYY-MM-DD") from None


def _range(params: dict[str, str], today: date) -> tuple[date, date]:
    time_range = parse_json_param(params, "time_range")
    if time_range:
        if (
            not isinstance(time_range, dict)
            or "since" not in time_range
            or "until" not in time_range
        ):
            raise errors.invalid_param('time_range must be {"since": ..., "until": ...}')
        return _date(time_range["since"], "since"), _date(time_range["until"], "until")
    preset = params.get("date_preset") or "last_30d"
    if preset == "today":
        return today, today
    if preset == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if preset in PRESETS:
        return today - timedelta(days=PRESETS[preset]), today - timedelta(days=1)
    if preset in ("maximum", "data_maximum"):
        return today - timedelta(days=37 * 30), today
    if preset == "this_month":
        return today.replace(day=1), today
    raise errors.invalid_param(
        f"date_preset must be one of the following values: today, "
        f"yesterday, maximum, {', '.join(PRESETS)}"
    )


def _periods(since: date, until: date, increment: str) -> list[tuple[date, date]]:
    if increment in ("", "all_days"):
        return [(since, until)]
    if increment == "monthly":
        out, cur = [], since
        while cur <= until:
            nxt = (cur.replace(day=1) + timedelta(days=32)).replace(day=1)
            out.append((cur, min(until, nxt - timedelta(days=1))))
            cur = nxt
        return out
    try:
        step = int(increment)
    except ValueError:
        raise errors.invalid_param("time_increment must be all_days, monthly or 1-90") from None
    if not 1 <= step <= 90:
        raise errors.invalid_param("time_increment must be all_days, monthly or 1-90")
    out = []
    cur = since
    while cur <= until:
        end = min(until, cur + timedelta(days=step - 1))
        out.append((cur, end))
        cur = end + timedelta(days=1)
    return out


def parse_query(node: Node, params: dict[str, str], now: datetime) -> InsightsQuery:
    account = node if isinstance(node, Account) else node.account
    own = node_level(node)
    level = params.get("level") or own
    if level not in LEVELS:
        raise errors.invalid_param(
            "level must be one of the following values: " + ", ".join(LEVELS)
        )
    if LEVELS.index(level) < LEVELS.index(own):
        raise errors.GraphError(1, "An unknown error occurred", subcode=99, is_transient=False)
    fields = split_fields(params.get("fields")) or list(DEFAULT_FIELDS)
    for name in fields:
        if name in bd.KNOWN:  # Meta: breakdowns are asked with `breakdowns=`, never as fields
            raise errors.invalid_param(
                f"{name} is not valid for fields param. please check "
                "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ "
                "for all valid values"
            )
        if name not in METRIC_FIELDS and name not in ID_FIELDS:
            raise errors.unknown_field(name, "AdsInsights")
    breakdowns = _list_param(params, "breakdowns")
    hourly = ""
    breakdown: tuple[str, ...] = ()
    if any(b in HOURLY_BREAKDOWNS for b in breakdowns):
        if len(breakdowns) > 1:
            bd.check(breakdowns)  # an hourly breakdown goes alone: the combination error
        hourly = breakdowns[0]
    elif breakdowns:
        breakdown = bd.check(breakdowns)
    video = sorted(set(fields) & VIDEO_FIELDS)
    if hourly and video:
        # Meta: video_* fields can't be combined with hourly breakdowns
        raise errors.invalid_param(
            f"Cannot request {video[0]} with breakdown {hourly}: "
            "video metrics are not available with hourly breakdowns"
        )
    windows = _list_param(params, "action_attribution_windows")
    for w in windows:
        if w not in WINDOWS:
            raise errors.invalid_param(
                f"action_attribution_windows must be one of: {', '.join(WINDOWS)}"
            )
    today = now.astimezone(account.tz).date()
    since, until = _range(params, today)
    if since > until:
        raise errors.invalid_param("since must be before until")
    if (today - since).days > 37 * 31:
        raise errors.start_too_old()
    periods = _periods(since, until, params.get("time_increment", "all_days"))
    reach_withheld = bool(breakdown) and since < bd.reach_cutoff(today)
    entities: list[Entity]
    if level == "account":
        entities = [account]
    else:
        pool: Sequence[Campaign | AdSet | Ad]
        if isinstance(node, Ad):
            pool = [node]
        elif level == "campaign":
            pool = account.campaigns if isinstance(node, Account) else [node]
        elif level == "adset":
            pool = (
                account.adsets
                if isinstance(node, Account)
                else node.adsets
                if isinstance(node, Campaign)
                else [node]
            )
        else:
            pool = account.ads if isinstance(node, Account) else node.ads
        # act_X/insights hides DELETED/ARCHIVED objects unless filtered on effective_status;
        # a single object's own /insights (and its children's) still reports them.
        keep, _ = build_filter(params, level, hide_deleted=isinstance(node, Account))
        entities = [e for e in pool if keep(e)]
    return InsightsQuery(
        account=account,
        level=level,
        fields=fields,
        since=since,
        until=until,
        periods=periods,
        hourly=hourly,
        windows=windows,
        entities=entities,
        as_of=int(now.timestamp()),
        params=dict(params),
        breakdown=breakdown,
        reach_withheld=reach_withheld,
    )


def ads_of(entity: Entity) -> list[Ad]:
    if isinstance(entity, Ad):
        return [entity]
    return entity.ads


@lru_cache(maxsize=8192)
def _hour_map(tzname: str, ordinal: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    buckets = dv.day_buckets(tzname, ordinal)
    return tuple(tuple(b for b in buckets if b[1] == h) for h in range(24))


def period_buckets(
    account: Account, period: tuple[date, date], hour: int | None
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for ordinal in range(period[0].toordinal(), period[1].toordinal() + 1):
        if hour is None:
            out.extend(dv.day_buckets(account.timezone_name, ordinal))
        else:
            out.extend(_hour_map(account.timezone_name, ordinal)[hour])
    return out


def _window_range(account: Account, query: InsightsQuery) -> tuple[int, int]:
    first = dv.day_buckets(account.timezone_name, query.since.toordinal())[0][0]
    last = dv.day_buckets(account.timezone_name, query.until.toordinal())[-1][0] + 3600
    return first, min(last, query.as_of)


def _delivers(entity: Entity, lo: int, hi: int) -> bool:
    return any(ad.start_ts < hi and ad.end_ts > lo for ad in ads_of(entity))


def page(
    query: InsightsQuery, start: int, limit: int, truncate: bool = False
) -> tuple[list[dict[str, Any]], int, bool]:
    """Rows from grid position `start`: (rows, next position, more positions remain)."""
    rows: list[dict[str, Any]] = []
    n_periods, n_hours = len(query.periods), query.hours
    block = n_periods * n_hours
    lo, hi = _window_range(query.account, query)
    want = max(1, limit // 2) if truncate else limit
    budget = max(limit * 48, 5000)  # cells scanned per page; long empty stretches give
    pos, size = start, query.size  # short or empty pages that still carry `next`
    while pos < size and len(rows) < want and budget > 0:
        ei, rest = divmod(pos, block)
        entity = query.entities[ei]
        if rest == 0 and not _delivers(entity, lo, hi):
            pos += block
            budget -= 1
            continue
        pi, hour = divmod(rest, n_hours)
        period = query.periods[pi]
        if query.breakdown:  # every shown value of the entity-period: one row each
            parts = bd.entity_cells(
                ads_of(entity),
                query.breakdown,
                period[0],
                period[1],
                query.as_of,
                query.full,
                query.hidden_below,
            )
            budget -= max(1, ((period[1] - period[0]).days + 1) * len(ads_of(entity)))
            pos += 1
            rows.extend(render_row(query, entity, period, 0, g, cell) for cell, g in parts)
            continue
        buckets = period_buckets(query.account, period, hour if query.hourly else None)
        by_family = dv.sum_ads(ads_of(entity), buckets, query.as_of, query.full)
        budget -= max(1, len(buckets) * len(ads_of(entity)) // 24)
        pos += 1
        if by_family is not None:
            rows.append(render_row(query, entity, period, hour, by_family))
    return rows, pos, pos < size


def _fmt_actions(
    items: list[tuple[str, dict[str, int]]], query: InsightsQuery, money: bool
) -> list[dict[str, str]]:
    out = []
    exp = query.account.exponent
    windows = [w for w in query.windows if w in dv.CONVERSION_WINDOWS]
    for action_type, counts in items:
        if query.type1 and dv.is_off_meta(action_type):
            continue  # Type 1 breakdowns drop off-Meta actions (pixel purchases, leads)
        if not counts["value"] and not any(counts.get(w) for w in windows):
            continue  # nothing in what was asked: Meta leaves the type out
        el = {
            "action_type": action_type,
            "value": dv.fmt_minor(counts["value"], exp) if money else str(counts["value"]),
        }
        for w in windows:
            if w in counts:
                el[w] = dv.fmt_minor(counts[w], exp) if money else str(counts[w])
        out.append(el)
    return out


def _stat(value: str, action_type: str = "video_view") -> list[dict[str, str]]:
    return [{"action_type": action_type, "value": value}]


def _results(
    query: InsightsQuery,
    by_family: dv.Groups,
    totals: list[int],
    reach: int | None,
    spend: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Meta's `results` and `cost_per_result` of a row. A row whose ad sets optimize for
    different results has none (Ads Manager shows no single number); an unknown or zero
    result is the indicator with no `values`."""
    indicators = {p.result for p in by_family}
    if len(indicators) != 1 or "" in indicators:
        return [], []
    indicator = indicators.pop()
    count = dv.result_count(indicator, by_family, totals, None if query.hourly else reach)
    if count is None or (query.type1 and dv.is_off_meta(indicator.removeprefix("actions:"))):
        return [{"indicator": indicator}], [{"indicator": indicator}]
    values = [(count, ["default"])]
    if indicator.startswith("actions:"):
        for w in query.windows:
            if w in dv.CONVERSION_WINDOWS:
                n = dv.result_count(indicator, by_family, totals, reach, window=w)
                values.append((n or 0, [w]))
    res = [
        {
            "indicator": indicator,
            "values": [{"value": str(n), "attribution_windows": w} for n, w in values if n],
        }
    ]
    cost = [
        {
            "indicator": indicator,
            "values": [
                {"value": dv.fmt_ratio(spend / n), "attribution_windows": w} for n, w in values if n
            ],
        }
    ]
    for item in (res[0], cost[0]):
        if not item["values"]:
            del item["values"]
    return res, cost


def render_row(
    query: InsightsQuery,
    entity: Entity,
    period: tuple[date, date],
    hour: int,
    by_family: dv.Groups,
    cell: bd.Cell = (),
) -> dict[str, Any]:
    account = query.account
    exp = account.exponent
    totals = dv.combine(by_family)
    impressions, clicks, spend_minor = totals[dv.IMPR], totals[dv.CLICKS], totals[dv.SPEND]
    spend = spend_minor / 10**exp
    days = (period[1] - period[0]).days + 1
    entity_id = getattr(entity, "id", "")
    if cell:  # a breakdown value's own reach (none past 13 months: Meta's rule)
        reach = dv.reach_for(bd.cell_reach_key(entity_id, cell), impressions, days)
    else:
        reach = 0 if query.hourly else dv.reach_for(entity_id, impressions, days)
    no_reach = bool(cell) and query.reach_withheld
    row: dict[str, Any] = {}
    names = _names(entity)
    settings = dv.settings(by_family)
    # Meta: action figures are "not available" for a row aggregating different attribution
    # settings, unless explicit windows are asked (then `value` is each ad set's default,
    # summed, and the window keys add up across settings)
    explicit = any(w in dv.CONVERSION_WINDOWS for w in query.windows)
    withheld = len(settings) > 1 and not explicit
    for f in query.fields:
        if withheld and f in ATTRIBUTED_FIELDS:
            continue
        if no_reach and f in ("reach", "frequency", "unique_clicks"):
            continue
        if f in ID_FIELDS:
            if f in names:
                row[f] = names[f]
        elif f == "impressions":
            row[f] = str(impressions)
        elif f == "clicks":
            row[f] = str(clicks)
        elif f == "spend":
            row[f] = dv.fmt_minor(spend_minor, exp)
        elif f == "reach":
            row[f] = str(reach)
        elif f == "unique_clicks":
            row[f] = "0" if query.hourly else str(min(reach, clicks * 9 // 10))
        elif f == "frequency":
            row[f] = dv.fmt_ratio(impressions / reach) if reach else "0"
        elif f == "cpm":
            row[f] = dv.fmt_ratio(spend * 1000 / impressions)
        elif f == "cpc":
            if clicks:
                row[f] = dv.fmt_ratio(spend / clicks)
        elif f == "ctr":
            row[f] = dv.fmt_ratio(clicks * 100 / impressions)
        elif f == "inline_link_clicks":
            row[f] = str(totals[dv.LINK])
        elif f == "inline_post_engagement":
            row[f] = str(totals[dv.LINK] + totals[dv.REACT])
        elif f == "cost_per_inline_link_click":
            if totals[dv.LINK]:
                row[f] = dv.fmt_ratio(spend / totals[dv.LINK])
        elif f == "inline_link_click_ctr":
            row[f] = dv.fmt_ratio(totals[dv.LINK] * 100 / impressions)
        elif f == "actions":
            acts = _fmt_actions(dv.merged_actions(by_family, False), query, False)
            if acts:
                row[f] = acts
        elif f == "action_values":
            vals = _fmt_actions(dv.merged_actions(by_family, True), query, True)
            if vals:
                row[f] = vals
        elif f == "cost_per_action_type":
            costs = [
                {"action_type": t, "value": dv.fmt_ratio(spend / c["value"])}
                for t, c in dv.merged_actions(by_family, False)
                if c["value"] and not (query.type1 and dv.is_off_meta(t))
            ]
            if costs:
                row[f] = costs
        elif f == "purchase_roas":
            worth = dict(dv.merged_actions(by_family, True))
            if "omni_purchase" in worth and spend and not query.type1:
                row[f] = [
                    {
                        "action_type": "omni_purchase",
                        "value": dv.fmt_ratio(worth["omni_purchase"]["value"] / 10**exp / spend),
                    }
                ]
        elif f == "attribution_setting":
            row[f] = next(iter(settings)) if len(settings) == 1 else "mixed"
        elif f == "outbound_clicks":
            if totals[dv.OUT]:
                row[f] = _stat(str(totals[dv.OUT]), "outbound_click")
        elif f == "outbound_clicks_ctr":
            row[f] = _stat(dv.fmt_ratio(totals[dv.OUT] * 100 / impressions), "outbound_click")
        elif f == "cost_per_outbound_click":
            if totals[dv.OUT]:
                row[f] = _stat(dv.fmt_ratio(spend / totals[dv.OUT]), "outbound_click")
        elif f in VIDEO_COUNT_FIELDS:
            n = totals[VIDEO_COUNT_FIELDS[f]]
            if n:
                row[f] = _stat(str(n))
        elif f == "video_avg_time_watched_actions":
            if totals[dv.VPLAY]:
                row[f] = _stat(str(dv.avg_seconds(totals[dv.WATCH], totals[dv.VPLAY])))
        elif f == "cost_per_thruplay":
            if totals[dv.THRU]:
                row[f] = _stat(dv.fmt_ratio(spend / totals[dv.THRU]))
        elif f in ("results", "cost_per_result"):
            res, cost = _results(query, by_family, totals, None if no_reach else reach, spend)
            if res:
                row[f] = res if f == "results" else cost
        elif f == "account_currency":
            row[f] = account.currency
        elif f == "optimization_goal" and not isinstance(entity, Account):
            # the ad set's; a campaign's only when all its ad sets share one
            goals = {s.optimization_goal for s in _adsets(entity)}
            if len(goals) == 1:
                row[f] = goals.pop()
        elif f in ("objective", "buying_type") and not isinstance(entity, Account):
            campaign = entity if isinstance(entity, Campaign) else entity.campaign
            row[f] = campaign.objective if f == "objective" else "AUCTION"
    row["date_start"] = period[0].isoformat()
    row["date_stop"] = period[1].isoformat()
    if query.hourly:
        row[query.hourly] = f"{hour:02d}:00:00 - {hour:02d}:59:59"
    for name, value in zip(query.breakdown, cell, strict=False):
        row[name] = value
    return row


def _adsets(entity: Campaign | AdSet | Ad) -> list[AdSet]:
    if isinstance(entity, Ad):
        return [entity.adset]
    if isinstance(entity, AdSet):
        return [entity]
    return entity.adsets


def _names(entity: Entity) -> dict[str, str]:
    out: dict[str, str] = {}
    account = entity if isinstance(entity, Account) else entity.account
    out["account_id"], out["account_name"] = account.account_id, account.name
    if isinstance(entity, Campaign | AdSet | Ad):
        c = entity if isinstance(entity, Campaign) else entity.campaign
        out["campaign_id"], out["campaign_name"] = c.id, c.name
    if isinstance(entity, AdSet | Ad):
        s = entity if isinstance(entity, AdSet) else entity.adset
        out["adset_id"], out["adset_name"] = s.id, s.name
    if isinstance(entity, Ad):
        out["ad_id"], out["ad_name"] = entity.id, entity.name
    return out
