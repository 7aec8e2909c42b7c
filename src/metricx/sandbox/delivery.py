"""Delivery numbers: a pure function of (ad, hour bucket, now), in integer minor units.

Everything Meta reports is derived from `ad_hour` by summing, so hourly rows add up exactly
to daily rows, days to ranges, ads to ad sets, campaigns and accounts. Conversions mature
over three days after the hour they belong to (late attribution), so recent numbers change
as the sandbox clock moves, and nothing exists at or after "now". Like Meta's, the numbers
are those of the last refresh: they move every quarter hour, not every second.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from operator import add
from zoneinfo import ZoneInfo

from metricx.sandbox.generator import ActionProfile, Ad
from metricx.sandbox.hashing import mix, text_key

# indices into a metrics vector; the first 15 are the original draws (kept identical), the
# rest (issue 16) come from new hash draws that change none of the earlier numbers
IMPR, CLICKS, LINK, REACT, LPV, SPEND, C1, C7, C28, V1, ONSITE = range(11)
VAL1C, VAL7C, VAL28C, VAL1V = range(11, 15)
EV1, VALEV, OUT, MSG = range(15, 19)  # 1d_ev conversions and value, outbound clicks, messaging
CC1, CC7, CC28, CCV1, CCEV = range(19, 24)  # the ad set's custom conversion, per window
CCVAL1C, CCVAL7C, CCVAL28C, CCVAL1V, CCVALEV = range(24, 29)
VSTART, VPLAY, THRU, P25, P50, P75, P95, P100, WATCH = range(29, 38)  # video (see video())
WIDTH = 38
BASE_WIDTH = 15

MATURITY_SECONDS = 72 * 3600
# Meta refreshes insights every 15 minutes [guess]: the running hour's delivery and the late
# conversions of earlier hours move only at these marks, so a few seconds' wait (a report job's
# polling) never straddles a change unless it crosses one
REFRESH_SECONDS = 900
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
    return ad.adset.profile.family


def ad_hour(ad: Ad, t: int, local_hour: int, now: int, full: bool = True) -> list[int] | None:
    """The ad's numbers for the hour bucket starting at epoch `t`, as visible at `now`.

    `full=False` returns only the original BASE_WIDTH figures (spend, impressions, clicks, link
    clicks, reactions, landing page views, conversions and values in the original windows),
    which is all the hourly, totals and reach queries read; `full` adds the issue-16 figures."""
    if t < ad.start_ts or t >= ad.end_ts or t >= now:
        return None
    h = mix(ad.key, t)
    u1 = (h & 0xFFFF) / 65536.0
    u2 = ((h >> 16) & 0xFFFF) / 65536.0
    u3 = ((h >> 32) & 0xFFFF) / 65536.0
    u4 = (h >> 48) / 65536.0
    impressions = int(ad.base_impressions * RHYTHM[local_hour] * (0.55 + 0.9 * u1))
    if t + 3600 > now:  # the running hour, as of the last refresh
        impressions = impressions * int((now - t) // REFRESH_SECONDS) // 4
    if impressions <= 0:
        return None
    clicks = min(impressions, int(impressions * ad.ctr * (0.5 + u2) + u3))
    link = clicks * (70 + int(u4 * 25)) // 100
    v = [0] * BASE_WIDTH
    v[IMPR] = impressions
    v[CLICKS] = clicks
    v[LINK] = link
    v[REACT] = int(impressions * 0.004 * u3 + u1)
    v[LPV] = link * (60 + int(u1 * 30)) // 100
    cpm = ad.account.cpm_minor
    v[SPEND] = int(impressions * cpm * (0.8 + 0.4 * u4) / 1000 + 0.5)
    profile = ad.adset.profile
    fam = profile.family
    age = max(0, now - now % REFRESH_SECONDS - (t + 3600))  # as of the last refresh
    g = 0
    if fam in CONVERTING:
        g = mix(h, 7)
        w1 = (g & 0xFFFF) / 65536.0
        w2 = ((g >> 16) & 0xFFFF) / 65536.0
        w3 = ((g >> 32) & 0xFFFF) / 65536.0
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
    if full:
        _extend(v, ad, h, g, age)
    return v


def _extend(v: list[int], ad: Ad, h: int, g: int, age: int) -> None:
    """The issue-16 figures, from new hash draws only (none of the original numbers moves)."""
    v.extend([0] * (WIDTH - BASE_WIDTH))
    profile = ad.adset.profile
    fam = profile.family
    link, impressions = v[LINK], v[IMPR]
    o = _remix(h)  # one new draw: outbound share, messaging, engaged-view conversions
    v[OUT] = link * (45 + (o & 0xFFFF) * 40 // 65536) // 100
    if profile.messaging:
        v[MSG] = int(link * 0.08 * (0.5 + ((o >> 16) & 0xFFFF) / 65536.0) + (o >> 63))
    if profile.video:
        _video(v, _remix(o), impressions)
    if fam not in CONVERTING:
        return
    # g: the conversions' draw (read, not changed)
    w1 = (g & 0xFFFF) / 65536.0
    w3 = ((g >> 32) & 0xFFFF) / 65536.0
    ev = int(impressions * 0.00015 * (0.5 + ((o >> 32) & 0xFFFF) / 65536.0) + w3 * 0.5)
    if ev:
        v[EV1] = sum(_matured(g ^ 0x3C3C, ev, age))
    aov = int(ad.aov_minor * (0.7 + 0.6 * w1)) if fam == "sales" else 0
    v[VALEV] = v[EV1] * aov
    if profile.custom_conversion_id and fam in ("sales", "leads"):
        # a rule on the pixel event: a share of its conversions, the same share in each
        # window so the windows stay nested (1d_click <= 7d_click <= 28d_click)
        share = 30 + (g >> 48) * 50 // 65536
        dither = ((o >> 48) & 0x7FFF) % 100
        for src, dst, val in (
            (C1, CC1, CCVAL1C),
            (C7, CC7, CCVAL7C),
            (C28, CC28, CCVAL28C),
            (V1, CCV1, CCVAL1V),
            (EV1, CCEV, CCVALEV),
        ):
            v[dst] = (v[src] * share + dither) // 100
            v[val] = v[dst] * aov


def _remix(h: int) -> int:
    """A cheap second hash from a well-mixed one (one splitmix64 round: the hot loop calls it
    for every ad-hour, where a full `mix` costs several times as much)."""
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
    h = (h ^ (h >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return h ^ (h >> 31)


def _video(v: list[int], h: int, impressions: int) -> None:
    """Video numbers of an awareness/engagement ad-hour: starts (video_play_actions) >= 3-second
    plays (the `video_view` action) >= p25 >= p50 >= p75 >= p95 >= p100; ThruPlays between p100
    and p75; WATCH = 3-second plays x the hour's average seconds (a whole number)."""
    u = [b / 256.0 for b in h.to_bytes(8, "little")]
    starts = int(impressions * (0.25 + 0.35 * u[0]))
    plays = starts * (45 + int(u[1] * 35)) // 100
    p25 = plays * (60 + int(u[2] * 25)) // 100
    p50 = p25 * (55 + int(u[3] * 25)) // 100
    p75 = p50 * (60 + int(u[4] * 25)) // 100
    p95 = p75 * (75 + int(u[5] * 17)) // 100
    p100 = p95 * (85 + int(u[6] * 13)) // 100
    v[VSTART], v[VPLAY], v[P25], v[P50], v[P75], v[P95], v[P100] = (
        starts,
        plays,
        p25,
        p50,
        p75,
        p95,
        p100,
    )
    v[THRU] = p100 + (p75 - p100) * int(u[7] * 100) // 100
    v[WATCH] = plays * (3 + int(u[7] * u[0] * 10))


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
    total[:] = map(add, total, v)


Groups = dict[ActionProfile, list[int]]


def sum_ads(
    ads: Iterable[Ad], buckets: Sequence[tuple[int, int]], now: int, full: bool = True
) -> Groups | None:
    """Totals of the ads over the buckets per action profile (objective family, attribution
    setting, custom conversion, messaging), or None when nothing was delivered. Profiles stay
    apart because they name and attribute their actions differently."""
    out: Groups | None = None
    if not buckets:
        return None
    lo, hi = buckets[0][0], buckets[-1][0] + 3600
    for ad in ads:
        if ad.end_ts <= lo or ad.start_ts >= hi or ad.start_ts >= now:
            continue
        for t, hour in buckets:
            v = ad_hour(ad, t, hour, now, full)
            if v is not None:
                if out is None:
                    out = {}
                profile = ad.adset.profile
                total = out.get(profile)
                if total is None:
                    out[profile] = v
                else:
                    add_into(total, v)
    return out


def combine(by_family: Groups) -> list[int]:
    """All groups summed (as wide as the vectors: BASE_WIDTH unless summed `full`)."""
    total = [0] * len(next(iter(by_family.values())))
    for v in by_family.values():
        add_into(total, v)
    return total


def settings(by_family: Groups) -> set[str]:
    """The attribution settings of the ad sets that delivered in a row."""
    return {p.attribution_setting for p in by_family}


def merged_actions(by_family: Groups, values: bool) -> list[tuple[str, dict[str, int]]]:
    """Action (or action value) counts over all profiles, summed per action type; `value` is
    each profile's default (its attribution setting's windows), summed."""
    acc: dict[str, dict[str, int]] = {}
    for profile, v in by_family.items():
        for action_type, counts in (action_values if values else action_counts)(profile, v):
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


CLICK_WINDOWS = ("1d_click", "7d_click", "28d_click")
CONVERSION_WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view", "1d_ev")


def attributed(counts: dict[str, int], attribution: Sequence[str]) -> dict[str, int]:
    """Per-window counts with `value`: the sum of the attribution setting's windows."""
    counts["value"] = sum(counts.get(w, 0) for w in attribution)
    return counts


def action_counts(profile: ActionProfile, v: Sequence[int]) -> list[tuple[str, dict[str, int]]]:
    """Action types with per-window counts {"1d_click", "7d_click", "28d_click", "1d_view",
    "1d_ev"} and `value` (the ad set's attribution setting: the sum of its windows).

    On-Meta actions (clicks, engagement, video views, messaging) are counted when they happen:
    the same number in every click window, none in a view window, so their `value` is that
    number under every setting. Conversions: 1d_click <= 7d_click <= 28d_click (nested),
    1d_view and 1d_ev (engaged view) apart from the click windows and from each other."""
    fam, attribution = profile.family, profile.attribution

    def click_like(n: int) -> dict[str, int]:
        return {"value": n, "1d_click": n, "7d_click": n, "28d_click": n}

    def conv(mult: int = 1) -> dict[str, int]:
        return attributed(
            {
                "1d_click": v[C1] * mult,
                "7d_click": v[C7] * mult,
                "28d_click": v[C28] * mult,
                "1d_view": v[V1] * mult,
                "1d_ev": v[EV1] * mult,
            },
            attribution,
        )

    out: list[tuple[str, dict[str, int]]] = [
        ("link_click", click_like(v[LINK])),
        ("post_reaction", click_like(v[REACT])),
        ("post_engagement", click_like(v[LINK] + v[REACT])),
        ("page_engagement", click_like(v[LINK] + v[REACT])),
    ]
    if profile.video:
        out.append(("video_view", click_like(v[VPLAY])))
    if profile.messaging:
        out.append(("onsite_conversion.messaging_conversation_started_7d", click_like(v[MSG])))
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
        lead = {k: pixel.get(k, 0) + onsite.get(k, 0) for k in CONVERSION_WINDOWS}
        out.append(("lead", attributed(lead, attribution)))
    elif fam == "app":
        out.append(("mobile_app_install", conv()))
        out.append(("app_custom_event.fb_mobile_activate_app", conv()))
    if profile.custom_conversion_id:
        custom = {
            "1d_click": v[CC1],
            "7d_click": v[CC7],
            "28d_click": v[CC28],
            "1d_view": v[CCV1],
            "1d_ev": v[CCEV],
        }
        out.append(
            (
                f"offsite_conversion.custom.{profile.custom_conversion_id}",
                attributed(custom, attribution),
            )
        )
    return [(t, c) for t, c in out if any(c.values())]


def action_values(profile: ActionProfile, v: Sequence[int]) -> list[tuple[str, dict[str, int]]]:
    """Conversion values (minor units) per window, as action_counts."""
    if profile.family != "sales":
        return []
    out: list[tuple[str, dict[str, int]]] = []
    windows = {
        "1d_click": v[VAL1C],
        "7d_click": v[VAL7C],
        "28d_click": v[VAL28C],
        "1d_view": v[VAL1V],
        "1d_ev": v[VALEV],
    }
    if any(windows.values()):
        attributed(windows, profile.attribution)
        out.extend(
            (t, windows)
            for t in ("offsite_conversion.fb_pixel_purchase", "purchase", "omni_purchase")
        )
    if profile.custom_conversion_id:
        custom = {
            "1d_click": v[CCVAL1C],
            "7d_click": v[CCVAL7C],
            "28d_click": v[CCVAL28C],
            "1d_view": v[CCVAL1V],
            "1d_ev": v[CCVALEV],
        }
        if any(custom.values()):
            out.append(
                (
                    f"offsite_conversion.custom.{profile.custom_conversion_id}",
                    attributed(custom, profile.attribution),
                )
            )
    return out


def result_count(
    indicator: str, groups: Groups, totals: Sequence[int], reach: int | None, window: str = ""
) -> int | None:
    """The count behind a `results` indicator (GOAL_RESULTS) under the default attribution
    (or one window): None when the sandbox does not know it (estimated ad recallers, hourly
    reach)."""
    if indicator == "reach":
        return reach
    if indicator == "impressions":
        return totals[IMPR]
    if indicator == "video_thruplay_watched_actions":
        return totals[THRU]
    if not indicator.startswith("actions:"):
        return None
    action_type = indicator.removeprefix("actions:")
    total = 0
    for profile, v in groups.items():
        for t, counts in action_counts(profile, v):
            if t == action_type:
                total += counts.get(window or "value", 0)
    return total


def avg_seconds(watch: int, plays: int) -> int:
    """Average play time in whole seconds (half up), as Meta prints it."""
    return (2 * watch + plays) // (2 * plays) if plays else 0


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
