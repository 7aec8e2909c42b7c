"""Delivery numbers: a pure function of (ad, hour bucket, now), in integer minor units.

Everything Meta reports is derived from `ad_hour` by summing, so hourly rows add up exactly
to daily rows, days to ranges, ads to ad sets, campaigns and accounts. Conversions mature
over three days after the hour they belong to (late attribution), so recent numbers change
as the sandbox clock moves, and nothing exists at or after "now".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from metricx.sandbox.generator import OBJECTIVE_FAMILY, Ad
from metricx.sandbox.hashing import mix, text_key

# indices into a metrics vector
IMPR, CLICKS, LINK, REACT, LPV, SPEND, C1, C7, C28, V1, ONSITE = range(11)
VAL1C, VAL7C, VAL28C, VAL1V = range(11, 15)
WIDTH = 15

MATURITY_SECONDS = 72 * 3600
# local-hour delivery rhythm: quiet nights, evening peak
RHYTHM = (
    0.22,
    0.14,
    0.09,
    0.07,
    0.07,
    0.1,
    0.22,
    0.42,
    0.62,
    0.78,
    0.85,
    0.9,
    0.95,
    0.92,
    0.86,
    0.86,
    0.92,
    1.0,
    1.1,
    1.2,
    1.26,
    1.12,
    0.8,
    0.48,
)
CONVERTING = frozenset({"sales", "leads", "app"})


@lru_cache(maxsize=16384)
def day_buckets(tzname: str, ordinal: int) -> tuple[tuple[int, int], ...]:
    """The hour buckets of one local day: (UTC epoch of the bucket start, local hour).

    23 buckets on a spring-forward day, 25 on a fall-back day (two carry the same local
    hour); Asia/Kolkata buckets start at :30 UTC.
    """
    tz = ZoneInfo(tzname)
    day = date.fromordinal(ordinal)
    nxt = date.fromordinal(ordinal + 1)
    start = int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
    end = int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).timestamp())
    return tuple((t, datetime.fromtimestamp(t, tz).hour) for t in range(start, end, 3600))


def family(ad: Ad) -> str:
    return OBJECTIVE_FAMILY.get(ad.campaign.objective, ("awareness", ""))[0]


def ad_hour(ad: Ad, t: int, local_hour: int, now: int) -> list[int] | None:
    """The ad's numbers for the hour bucket starting at epoch `t`, as visible at `now`."""
    if t < ad.start_ts or t >= ad.end_ts or t >= now:
        return None
    h = mix(ad.key, t)
    u1 = (h & 0xFFFF) / 65536.0
    u2 = ((h >> 16) & 0xFFFF) / 65536.0
    u3 = ((h >> 32) & 0xFFFF) / 65536.0
    u4 = (h >> 48) / 65536.0
    impressions = int(ad.base_impressions * RHYTHM[local_hour] * (0.55 + 0.9 * u1))
    if t + 3600 > now:  # the running hour: Meta refreshes every 15 minutes
        impressions = impressions * int((now - t) // 900) // 4
    if impressions <= 0:
        return None
    clicks = min(impressions, int(impressions * ad.ctr * (0.5 + u2) + u3))
    link = clicks * (70 + int(u4 * 25)) // 100
    v = [0] * WIDTH
    v[IMPR] = impressions
    v[CLICKS] = clicks
    v[LINK] = link
    v[REACT] = int(impressions * 0.004 * u3 + u1)
    v[LPV] = link * (60 + int(u1 * 30)) // 100
    cpm = ad.account.cpm_minor
    v[SPEND] = int(impressions * cpm * (0.8 + 0.4 * u4) / 1000 + 0.5)
    fam = family(ad)
    if fam in CONVERTING:
        g = mix(h, 7)
        w1 = (g & 0xFFFF) / 65536.0
        w2 = ((g >> 16) & 0xFFFF) / 65536.0
        w3 = ((g >> 32) & 0xFFFF) / 65536.0
        age = max(0, now - (t + 3600))
        c7 = int(link * ad.cvr * (0.5 + w1) + w2)
        c1 = c7 * (60 + int(w3 * 40)) // 100
        c28 = c7 + int(c7 * 0.25 * w2 + w3 * 0.6)
        v1 = int(impressions * 0.0004 * (0.5 + w3) + w1 * 0.5)
        seen = _matured(g, c28, age)  # conversions 0..c28-1, each with its own delay
        v[C1] = sum(seen[:c1])
        v[C7] = sum(seen[:c7])
        v[C28] = sum(seen)
        v[V1] = sum(_matured(g ^ 0x5A5A, v1, age))
        if fam == "leads":
            v[ONSITE] = int(link * ad.cvr * 0.6 * (0.5 + w2) + w1 * 0.5)
        if fam == "sales":
            aov = int(ad.aov_minor * (0.7 + 0.6 * w1))
            v[VAL1C] = v[C1] * aov
            v[VAL7C] = v[C7] * aov
            v[VAL28C] = v[C28] * aov
            v[VAL1V] = v[V1] * aov
    return v


def _matured(g: int, count: int, age: int) -> list[int]:
    """1 for each of `count` conversions already reported `age` seconds after the hour:
    about 45% arrive at once, the rest over three days (skewed early)."""
    out = []
    for k in range(count):
        u = (mix(g, k) & 0xFFFF) / 65536.0
        delay = 0.0 if u < 0.45 else MATURITY_SECONDS * ((u - 0.45) / 0.55) ** 2
        out.append(1 if age >= delay else 0)
    return out


def add_into(total: list[int], v: Sequence[int]) -> None:
    for i in range(WIDTH):
        total[i] += v[i]


def sum_ads(
    ads: Iterable[Ad], buckets: Sequence[tuple[int, int]], now: int
) -> dict[str, list[int]] | None:
    """Totals of the ads over the buckets per objective family, or None when nothing was
    delivered. Families stay apart because they name their actions differently."""
    out: dict[str, list[int]] | None = None
    if not buckets:
        return None
    lo, hi = buckets[0][0], buckets[-1][0] + 3600
    for ad in ads:
        if ad.end_ts <= lo or ad.start_ts >= hi or ad.start_ts >= now:
            continue
        for t, hour in buckets:
            v = ad_hour(ad, t, hour, now)
            if v is not None:
                if out is None:
                    out = {}
                total = out.get(family(ad))
                if total is None:
                    out[family(ad)] = v
                else:
                    add_into(total, v)
    return out


def combine(by_family: dict[str, list[int]]) -> list[int]:
    total = [0] * WIDTH
    for v in by_family.values():
        add_into(total, v)
    return total


def merged_actions(
    by_family: dict[str, list[int]], values: bool
) -> list[tuple[str, dict[str, int]]]:
    """Action (or action value) counts over all families, summed per action type."""
    acc: dict[str, dict[str, int]] = {}
    for fam, v in by_family.items():
        for action_type, counts in (action_values if values else action_counts)(fam, v):
            slot = acc.get(action_type)
            if slot is None:
                acc[action_type] = dict(counts)
            else:
                for k, n in counts.items():
                    slot[k] = slot.get(k, 0) + n
    return list(acc.items())


def reach_for(entity_id: str, impressions: int, days: int) -> int:
    """Reach is not additive: a frequency that grows with the span, from the entity's hash."""
    if impressions <= 0:
        return 0
    freq = 1080 + mix(text_key(entity_id), days) % 300 + int(150 * math.log2(1 + days))
    return max(1, impressions * 1000 // freq)


OFF_META_PREFIXES = ("offsite_conversion.", "app_custom_event.")
OFF_META_TYPES = frozenset({"purchase", "omni_purchase", "lead"})


def is_off_meta(action_type: str) -> bool:
    return action_type.startswith(OFF_META_PREFIXES) or action_type in OFF_META_TYPES


# (action_type, count index or "click", value index or None) per family; windows below
def action_counts(fam: str, v: Sequence[int]) -> list[tuple[str, dict[str, int]]]:
    """Action types with per-window counts: {"value", "1d_click", "7d_click", "28d_click",
    "1d_view"}. Click-like actions have equal click windows and no view window."""

    def click_like(n: int) -> dict[str, int]:
        return {"value": n, "1d_click": n, "7d_click": n, "28d_click": n}

    def conv(mult: int = 1) -> dict[str, int]:
        return {
            "value": (v[C7] + v[V1]) * mult,
            "1d_click": v[C1] * mult,
            "7d_click": v[C7] * mult,
            "28d_click": v[C28] * mult,
            "1d_view": v[V1] * mult,
        }

    out: list[tuple[str, dict[str, int]]] = [
        ("link_click", click_like(v[LINK])),
        ("post_reaction", click_like(v[REACT])),
        ("post_engagement", click_like(v[LINK] + v[REACT])),
        ("page_engagement", click_like(v[LINK] + v[REACT])),
    ]
    if fam == "traffic":
        out.append(("landing_page_view", click_like(v[LPV])))
    elif fam == "sales":
        out.append(("landing_page_view", click_like(v[LPV])))
        out.append(("offsite_conversion.fb_pixel_add_to_cart", conv(3)))
        out.append(("offsite_conversion.fb_pixel_purchase", conv()))
        out.append(("purchase", conv()))
        out.append(("omni_purchase", conv()))
    elif fam == "leads":
        onsite = click_like(v[ONSITE])
        pixel = conv()
        out.append(("offsite_conversion.fb_pixel_lead", pixel))
        out.append(("onsite_conversion.lead_grouped", onsite))
        out.append(("lead", {k: pixel.get(k, 0) + onsite.get(k, 0) for k in pixel}))
    elif fam == "app":
        out.append(("mobile_app_install", conv()))
        out.append(("app_custom_event.fb_mobile_activate_app", conv()))
    return [(t, c) for t, c in out if c["value"] > 0]


def action_values(fam: str, v: Sequence[int]) -> list[tuple[str, dict[str, int]]]:
    if fam != "sales" or v[VAL7C] + v[VAL1V] == 0:
        return []
    windows = {
        "value": v[VAL7C] + v[VAL1V],
        "1d_click": v[VAL1C],
        "7d_click": v[VAL7C],
        "28d_click": v[VAL28C],
        "1d_view": v[VAL1V],
    }
    return [
        (t, windows) for t in ("offsite_conversion.fb_pixel_purchase", "purchase", "omni_purchase")
    ]


def fmt_minor(minor: int, exponent: int) -> str:
    """Money as Meta prints it: "14.35", "5339.5", "0", JPY "1435"."""
    if exponent == 0:
        return str(minor)
    text = str(Decimal(minor).scaleb(-exponent))
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def fmt_ratio(value: float) -> str:
    """Derived ratios ("4.864865", "1.435"): six decimals, trailing zeros dropped."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"
