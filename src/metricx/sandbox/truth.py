"""Ground truth: exact totals per entity and hour/day bucket, as Meta holds them "now".

Streams JSON so a large range stays at constant memory. Includes DELETED and ARCHIVED
objects (they delivered; only the account-level insights edge hides them). Hour buckets
carry the local date and hour AND the UTC start (a fall-back day has two buckets with the
same local hour, which the API merges into one hourly row).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

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


def _measures(
    account: Account, by_family: dict[str, list[int]], reach: int | None
) -> dict[str, Any]:
    v = dv.combine(by_family)
    exp = account.exponent
    out: dict[str, Any] = {
        "spend": dv.fmt_minor(v[dv.SPEND], exp),
        "spend_minor": v[dv.SPEND],
        "impressions": v[dv.IMPR],
        "clicks": v[dv.CLICKS],
        "inline_link_clicks": v[dv.LINK],
        "actions": {t: c["value"] for t, c in dv.merged_actions(by_family, False)},
        "action_values": {
            t: dv.fmt_minor(c["value"], exp) for t, c in dv.merged_actions(by_family, True)
        },
    }
    if reach is not None:
        out["reach"] = reach
    return out


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
                by_family = dv.sum_ads(ads, buckets, as_of)
                if by_family is None:
                    continue
                impressions = dv.combine(by_family)[dv.IMPR]
                row = {
                    "entity_id": entity_id,
                    "date": day,
                    **_measures(account, by_family, dv.reach_for(entity_id, impressions, 1)),
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
