"""Ground truth: exact totals per entity and hour/day bucket, as Meta holds them "now".

Streams JSON so a large range stays at constant memory. Includes DELETED and ARCHIVED
objects (they delivered; only the account-level insights edge hides them). Hour buckets
carry the local date and hour AND the UTC start (a fall-back day has two buckets with the
same local hour, which the API merges into one hourly row).

Day rows (issue 16) add, per entity and day: `actions` / `action_values` (type -> default
`value`: each ad set's attribution setting, summed over the entity's ads), `action_windows` /
`action_value_windows` (type -> {window: figure, "value": default} for 1d_click, 7d_click,
28d_click, 1d_view, 1d_ev), `attribution_setting` ("mixed" when the day's delivering ad sets
differ; then `actions_withheld` is true: Meta omits action figures there unless explicit
windows are asked), `link_clicks`, `outbound_clicks`, `landing_page_views`,
`post_engagement`, `messaging_conversations`, video (`video_starts` = video_play_actions,
`video_plays` = 3-second plays, the `video_view` action, `thruplays`, `video_p25`..`video_p100`,
`video_avg_time` as Meta prints it, `video_watch_seconds` = the sum over the entity's ad-days
of each one's printed average x its 3-second plays; null outside awareness/engagement), and
`results` with `result_type` (the optimization goal's indicator under the default
attribution; "mixed" with results null when the day's ad sets optimize for different
results; reach-type results are the entity's own reach, never a sum).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from metricx.sandbox import breakdowns as bd
from metricx.sandbox import delivery as dv
from metricx.sandbox.generator import Account, Ad, AdSet, Campaign

Entity = Account | Campaign | AdSet | Ad


def _entities(account: Account, level: str) -> list[Entity]:
    if level == "account":
        return [account]
    if level == "campaign":
        return list(account.campaigns)
    if level == "adset":
        return list(account.adsets)
    return list(account.ads)


def _ads(entity: Entity) -> list[Ad]:
    return [entity] if isinstance(entity, Ad) else entity.ads


def _measures(account: Account, by_family: dv.Groups, reach: int | None) -> dict[str, Any]:
    v = dv.combine(by_family)
    exp = account.exponent
    out: dict[str, Any] = {
        "spend": dv.fmt_minor(v[dv.SPEND], exp),
        "spend_minor": v[dv.SPEND],
        "impressions": v[dv.IMPR],
        "clicks": v[dv.CLICKS],
        "inline_link_clicks": v[dv.LINK],
        "actions": {t: c["value"] for t, c in dv.merged_actions(by_family, False) if c["value"]},
        "action_values": {
            t: dv.fmt_minor(c["value"], exp)
            for t, c in dv.merged_actions(by_family, True)
            if c["value"]
        },
        "outbound_clicks": v[dv.OUT],
    }
    if reach is not None:
        out["reach"] = reach
    return out


VIDEO_KEYS = {
    "video_starts": dv.VSTART,
    "video_plays": dv.VPLAY,
    "thruplays": dv.THRU,
    "video_p25": dv.P25,
    "video_p50": dv.P50,
    "video_p75": dv.P75,
    "video_p95": dv.P95,
    "video_p100": dv.P100,
}


def _windows(items: list[tuple[str, dict[str, int]]], fmt: Any) -> dict[str, dict[str, Any]]:
    return {t: {w: fmt(n) for w, n in sorted(c.items())} for t, c in items if any(c.values())}


def _day_measures(
    account: Account, groups: dv.Groups, reach: int, watch_seconds: int
) -> dict[str, Any]:
    """The issue-16 figures of one entity-day (see the module docstring)."""
    v = dv.combine(groups)
    exp = account.exponent
    counts = dict(dv.merged_actions(groups, False))
    settings = sorted(dv.settings(groups))
    indicators = {p.result for p in groups}
    if len(indicators) == 1 and "" not in indicators:
        result_type = indicators.pop()
        results = dv.result_count(result_type, groups, v, reach)
    else:
        result_type, results = ("mixed" if len(indicators) > 1 else ""), None
    video = any(p.video for p in groups)
    out: dict[str, Any] = {
        "link_clicks": v[dv.LINK],
        "landing_page_views": counts.get("landing_page_view", {}).get("value", 0),
        "post_engagement": counts.get("post_engagement", {}).get("value", 0),
        "messaging_conversations": counts.get(
            "onsite_conversion.messaging_conversation_started_7d", {}
        ).get("value", 0),
        "attribution_setting": settings[0] if len(settings) == 1 else "mixed",
        "attribution_settings": settings,
        "actions_withheld": len(settings) > 1,
        "action_windows": _windows(dv.merged_actions(groups, False), int),
        "action_value_windows": _windows(
            dv.merged_actions(groups, True), lambda n: dv.fmt_minor(n, exp)
        ),
        "results": results,
        "result_type": result_type,
    }
    if video:
        out.update({k: v[i] for k, i in VIDEO_KEYS.items()})
        out["video_watch_seconds"] = watch_seconds
        out["video_avg_time"] = dv.avg_seconds(v[dv.WATCH], v[dv.VPLAY])
    else:
        out.update({k: None for k in VIDEO_KEYS})
        out["video_watch_seconds"] = out["video_avg_time"] = None
    return out


def merge_into(total: dv.Groups, groups: dv.Groups) -> None:
    for profile, v in groups.items():
        slot = total.get(profile)
        if slot is None:
            total[profile] = list(v)
        else:
            dv.add_into(slot, v)


def _day_of(
    ads: list[Ad], buckets: Sequence[tuple[int, int]], as_of: int
) -> tuple[dv.Groups | None, int]:
    """An entity's day summed ad by ad: its groups and the video watch seconds (each ad-day's
    average play time as Meta prints it, whole seconds, times its 3-second plays)."""
    total: dv.Groups = {}
    watch = 0
    for ad in ads:
        groups = dv.sum_ads([ad], buckets, as_of)
        if groups is None:
            continue
        v = dv.combine(groups)
        watch += dv.avg_seconds(v[dv.WATCH], v[dv.VPLAY]) * v[dv.VPLAY]
        merge_into(total, groups)
    return (total or None), watch


def stream_truth(
    account: Account, level: str, granularity: str, since: date, until: date, now: datetime
) -> Iterator[str]:
    as_of = int(now.timestamp())
    head = {
        "account_id": account.id,
        "currency": account.currency,
        "timezone_name": account.timezone_name,
        "as_of": now.isoformat(),
        "level": level,
        "granularity": granularity,
        "since": since.isoformat(),
        "until": until.isoformat(),
    }
    yield json.dumps(head)[:-1] + ', "rows": ['
    first = True
    for entity in _entities(account, level):
        ads = _ads(entity)
        entity_id = entity.id
        for ordinal in range(since.toordinal(), until.toordinal() + 1):
            day = date.fromordinal(ordinal).isoformat()
            buckets = dv.day_buckets(account.timezone_name, ordinal)
            if granularity == "day":
                by_family, watch = _day_of(ads, buckets, as_of)
                if by_family is None:
                    continue
                impressions = dv.combine(by_family)[dv.IMPR]
                reach = dv.reach_for(entity_id, impressions, 1)
                row = {
                    "entity_id": entity_id,
                    "date": day,
                    **_measures(account, by_family, reach),
                    **_day_measures(account, by_family, reach, watch),
                }
                yield ("" if first else ",") + json.dumps(row)
                first = False
                continue
            for t, hour in buckets:
                by_family = dv.sum_ads(ads, [(t, hour)], as_of)
                if by_family is None:
                    continue
                row = {
                    "entity_id": entity_id,
                    "date": day,
                    "hour": hour,
                    "utc_start": datetime.fromtimestamp(t, UTC).isoformat(),
                    **_measures(account, by_family, None),
                }
                yield ("" if first else ",") + json.dumps(row)
                first = False
    yield "]}"


def range_reach(
    account: Account, level: str, since: date, until: date, now: datetime
) -> dict[str, Any]:
    """Meta's deduplicated reach of each entity of `level` for exactly [since, until] (what
    `time_range` + `time_increment=all_days` answers), with the range's impressions."""
    as_of = int(now.timestamp())
    buckets = [
        b
        for ordinal in range(since.toordinal(), until.toordinal() + 1)
        for b in dv.day_buckets(account.timezone_name, ordinal)
    ]
    days = (until - since).days + 1
    rows = []
    for entity in _entities(account, level):
        groups = dv.sum_ads(_ads(entity), buckets, as_of, full=False)
        if groups is None:
            continue
        impressions = dv.combine(groups)[dv.IMPR]
        rows.append(
            {
                "entity_id": entity.id,
                "impressions": impressions,
                "reach": dv.reach_for(entity.id, impressions, days),
            }
        )
    return {
        "account_id": account.id,
        "level": level,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "as_of": now.isoformat(),
        "rows": rows,
    }


def settings_truth(account: Account) -> dict[str, Any]:
    """Every ad set's optimization goal, promoted object, attribution setting and result
    indicator, and the account's custom conversions."""
    return {
        "account_id": account.id,
        "adsets": [
            {
                "id": s.id,
                "campaign_id": s.campaign.id,
                "objective": s.campaign.objective,
                "optimization_goal": s.optimization_goal,
                "promoted_object": s.promoted_object,
                "attribution_setting": s.profile.attribution_setting,
                "attribution_spec": s.attribution_spec,
                "result_type": s.result_indicator,
                "custom_conversion_id": s.profile.custom_conversion_id or None,
                "messaging": s.profile.messaging,
                "video": s.profile.video,
            }
            for s in account.adsets
        ],
        "custom_conversions": [
            {
                "id": cc.id,
                "name": cc.name,
                "custom_event_type": cc.custom_event_type,
                "action_type": f"offsite_conversion.custom.{cc.id}",
                "is_archived": cc.is_archived,
            }
            for cc in account.custom_conversions
        ],
    }


def stream_breakdown_truth(
    account: Account,
    fields: tuple[str, ...],
    since: date,
    until: date,
    now: datetime,
    hidden_below: int,
) -> Iterator[str]:
    """Every ad-day-value of a breakdown set (breakdowns.py), hidden cells included (``hidden``
    true: Meta returns no row for them): the figures the insights rows carry, with `key1`,
    `key2` (the values, "" for a one-field set), the cell's `reach` (a query starting before
    `reach_cutoff` gets none), `actions` / `action_values` (default attribution; Type 1 sets
    without off-Meta types), and `results` as the breakdown sync reads it (None for results
    the rows do not carry: ThruPlays, which it does not ask for, off-Meta results of Type 1
    sets, unknown indicators)."""
    as_of = int(now.timestamp())
    exp = account.exponent
    type1 = not bd.TYPE1.isdisjoint(fields)
    today = now.astimezone(account.tz).date()
    head = {
        "account_id": account.id,
        "currency": account.currency,
        "as_of": now.isoformat(),
        "breakdowns": list(fields),
        "since": since.isoformat(),
        "until": until.isoformat(),
        "hidden_below": hidden_below,
        "reach_cutoff": bd.reach_cutoff(today).isoformat(),
        "type1": type1,
    }
    yield json.dumps(head)[:-1] + ', "rows": ['
    first = True
    for ad in account.ads:
        for ordinal in range(since.toordinal(), until.toordinal() + 1):
            parts = bd.ad_day_cells(ad, fields, ordinal, as_of, True)
            for cell, groups in parts or ():
                v = dv.combine(groups)
                if not any(v):
                    continue
                reach = dv.reach_for(bd.cell_reach_key(ad.id, cell), v[dv.IMPR], 1)
                counts = dv.merged_actions(groups, False)
                values = dv.merged_actions(groups, True)
                if type1:
                    counts = [(t, c) for t, c in counts if not dv.is_off_meta(t)]
                    values = [(t, c) for t, c in values if not dv.is_off_meta(t)]
                (profile,) = groups
                indicator = profile.result
                results = None
                if indicator and indicator != "video_thruplay_watched_actions":
                    off = type1 and dv.is_off_meta(indicator.removeprefix("actions:"))
                    if not off:
                        results = dv.result_count(indicator, groups, v, reach)
                row = {
                    "ad_id": ad.id,
                    "adset_id": ad.adset.id,
                    "campaign_id": ad.campaign.id,
                    "date": date.fromordinal(ordinal).isoformat(),
                    "key1": cell[0],
                    "key2": cell[1] if len(cell) > 1 else "",
                    "hidden": bd.hidden(groups, hidden_below),
                    "spend": dv.fmt_minor(v[dv.SPEND], exp),
                    "spend_minor": v[dv.SPEND],
                    "impressions": v[dv.IMPR],
                    "clicks": v[dv.CLICKS],
                    "link_clicks": v[dv.LINK],
                    "reach": reach,
                    "actions": {t: c["value"] for t, c in counts if c["value"]},
                    "action_values": {
                        t: dv.fmt_minor(c["value"], exp) for t, c in values if c["value"]
                    },
                    "result_type": indicator,
                    "results": results,
                }
                yield ("" if first else ",") + json.dumps(row)
                first = False
    yield "]}"
