"""Demographic, geographic, placement and device breakdowns (issue 17): the values, Meta's
rules, and each ad-day's figures split across the values.

- The sets served (Meta's names, in the order the row keys are listed): age, gender,
  age+gender, country, region, dma, publisher_platform, publisher_platform+platform_position,
  impression_device, device_platform, publisher_platform+impression_device. Other
  combinations Meta allows (the three placement fields together, ...) are refused here like
  invalid ones: the sandbox does not serve them.
- An ad-day's numbers (the whole vector: spend, impressions, clicks, every action and window)
  are split across the set's values by deterministic weights (the ad's key, the set, the value
  and the day, hashed), each integer figure by cumulative floors, so the cells of a set add up
  to the ad-day exactly before any is hidden. A level above the ad sums its ads' cells.
- Small cells are hidden (Meta: breakdown values are estimates, small cells withheld for
  privacy): a cell with fewer than ``hidden_below`` impressions has no row, so a set's sum
  can be below the unbroken total. ``hidden_below`` is a fault setting
  (``breakdown_hidden_below``), changeable at run time.
- Reach per cell: the cell's own (``reach_for`` keyed by the entity and the values; never
  above its impressions). Omitted (with frequency) when the query's start date is more than 13
  months before the sandbox's today (Meta's rule since June 2025).
- Type 1 (``region``, ``dma``): no off-Meta actions (pixel/app conversions, purchase, lead)
  in the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from metricx.sandbox import delivery as dv
from metricx.sandbox import errors
from metricx.sandbox.generator import Ad
from metricx.sandbox.hashing import mix, text_key

# field -> (value, base weight)
VALUES: dict[str, tuple[tuple[str, int], ...]] = {
    "age": (
        ("18-24", 14),
        ("25-34", 30),
        ("35-44", 24),
        ("45-54", 16),
        ("55-64", 10),
        ("65+", 6),
    ),
    "gender": (("female", 52), ("male", 45), ("unknown", 3)),
    "country": (
        ("US", 40),
        ("GB", 12),
        ("DE", 10),
        ("FR", 8),
        ("CA", 8),
        ("AU", 6),
        ("BR", 6),
        ("IN", 5),
        ("NL", 3),
        ("IE", 2),
    ),
    "region": (
        ("California", 18),
        ("Texas", 12),
        ("New York", 11),
        ("Florida", 10),
        ("England", 12),
        ("Ontario", 8),
        ("Île-de-France", 7),
        ("Bavaria", 6),
        ("Illinois", 6),
        ("New South Wales", 5),
    ),
    # Nielsen's designated market areas, as Meta names them (US audiences only)
    "dma": (
        ("New York", 20),
        ("Los Angeles", 14),
        ("Chicago", 9),
        ("Philadelphia", 8),
        ("Dallas-Ft. Worth", 8),
        ("San Francisco-Oakland-San Jose", 7),
        ("Atlanta", 6),
        ("Houston", 6),
        ("Boston (Manchester)", 6),
        ("Seattle-Tacoma", 5),
    ),
    "publisher_platform": (
        ("facebook", 55),
        ("instagram", 35),
        ("audience_network", 6),
        ("messenger", 4),
    ),
    "impression_device": (
        ("android_smartphone", 35),
        ("iphone", 30),
        ("desktop", 18),
        ("ipad", 6),
        ("android_tablet", 5),
        ("other", 6),
    ),
    "device_platform": (("mobile", 80), ("desktop", 20)),
}
# publisher_platform -> its platform positions (weight within the platform)
POSITIONS: dict[str, tuple[tuple[str, int], ...]] = {
    "facebook": (
        ("feed", 30),
        ("facebook_stories", 8),
        ("facebook_reels", 8),
        ("marketplace", 4),
        ("video_feeds", 3),
        ("right_hand_column", 2),
    ),
    "instagram": (
        ("feed", 18),
        ("instagram_stories", 10),
        ("instagram_reels", 10),
        ("instagram_explore", 3),
    ),
    "audience_network": (("an_classic", 4), ("rewarded_video", 2)),
    "messenger": (("messenger_inbox", 2), ("messenger_stories", 1)),
}
# The combinations served: frozenset of fields -> the fields in row-key order.
SETS: dict[frozenset[str], tuple[str, ...]] = {
    frozenset(f): f
    for f in (
        ("age",),
        ("gender",),
        ("age", "gender"),
        ("country",),
        ("region",),
        ("dma",),
        ("publisher_platform",),
        ("publisher_platform", "platform_position"),
        ("impression_device",),
        ("device_platform",),
        ("publisher_platform", "impression_device"),
    )
}
FIELDS = frozenset({*VALUES, "platform_position"})
# Meta's whole list (the error names it); those not in FIELDS are refused as combinations.
KNOWN = (
    "age",
    "country",
    "dma",
    "gender",
    "frequency_value",
    "hourly_stats_aggregated_by_advertiser_time_zone",
    "hourly_stats_aggregated_by_audience_time_zone",
    "impression_device",
    "place_page_id",
    "publisher_platform",
    "platform_position",
    "device_platform",
    "product_id",
    "region",
    "user_segment_key",
)
TYPE1 = frozenset({"region", "dma"})
DEFAULT_HIDDEN_BELOW = 5
REACH_MONTHS = 13

Cell = tuple[str, ...]


@lru_cache(maxsize=32)
def cells(fields: tuple[str, ...]) -> tuple[tuple[Cell, int], ...]:
    """The set's cells (values in ``fields`` order) with their base weights."""
    if fields == ("publisher_platform", "platform_position"):
        platforms = dict(VALUES["publisher_platform"])
        return tuple(
            ((p, pos), platforms[p] * w * 10 // sum(x for _, x in POSITIONS[p]))
            for p, positions in POSITIONS.items()
            for pos, w in positions
        )
    if len(fields) == 1:
        return tuple(((v,), w) for v, w in VALUES[fields[0]])
    first, second = (VALUES[f] for f in fields)
    return tuple(((a, b), wa * wb) for a, wa in first for b, wb in second)


def check(names: Sequence[str]) -> tuple[str, ...]:
    """The breakdowns asked (no hourly one) as the served set's fields, or Meta's error."""
    for i, name in enumerate(names):
        if name not in KNOWN:
            raise errors.invalid_param(
                f"breakdowns[{i}] must be one of the following values: " + ", ".join(KNOWN)
            )
    fields = SETS.get(frozenset(names))
    if fields is None or len(set(names)) != len(names):
        raise errors.GraphError(
            100,
            "(#100) Current combination of data breakdown columns "
            f"({', '.join(['action_type', *names])}) is invalid ",
            subcode=1504041,
            is_transient=False,
            user_title="Invalid breakdowns",
            user_msg="This combination of breakdowns is not supported.",
        )
    return fields


def months_back(today: date, months: int) -> date:
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    month += 1
    for day in (today.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def reach_cutoff(today: date) -> date:
    """The oldest start date whose breakdown queries still return reach (older ones: report
    jobs within the account's daily allowance, the ``reach_jobs_per_day`` fault)."""
    return months_back(today, REACH_MONTHS)


def weights(ad: Ad, fields: tuple[str, ...], ordinal: int) -> list[int]:
    base = cells(fields)
    set_key = text_key(",".join(fields))
    out = []
    for i, (_, w) in enumerate(base):
        u = (mix(ad.key, set_key, i, ordinal) & 0xFFFF) / 65536.0
        out.append(max(1, int(w * 100 * (0.4 + 1.2 * u))))
    return out


def split(vector: Sequence[int], parts: Sequence[int]) -> list[list[int]]:
    """Each figure split by the weights ``parts`` (cumulative floors): the pieces add up to
    the figure exactly."""
    total = sum(parts)
    out = []
    prev = [0] * len(vector)
    cum = 0
    for w in parts:
        cum += w
        cur = [x * cum // total for x in vector]
        out.append([c - p for c, p in zip(cur, prev, strict=True)])
        prev = cur
    return out


def ad_day_cells(
    ad: Ad, fields: tuple[str, ...], ordinal: int, as_of: int, full: bool
) -> list[tuple[Cell, dv.Groups]] | None:
    """One ad-day split across the set's values (every cell, hidden ones included), or None
    when the ad did not deliver that day."""
    groups = dv.sum_ads([ad], dv.day_buckets(ad.account.timezone_name, ordinal), as_of, full)
    if groups is None:
        return None
    ((profile, vector),) = groups.items()
    pieces = split(vector, weights(ad, fields, ordinal))
    return [
        (cell, {profile: piece}) for (cell, _), piece in zip(cells(fields), pieces, strict=True)
    ]


def entity_cells(
    ads: Sequence[Ad],
    fields: tuple[str, ...],
    since: date,
    until: date,
    as_of: int,
    full: bool,
    hidden_below: int,
) -> list[tuple[Cell, dv.Groups]]:
    """The ads' cells over [since, until] summed per value, without the hidden ones (fewer
    than ``hidden_below`` impressions, or none), in the set's value order."""
    acc: dict[Cell, dv.Groups] = {}
    for ordinal in range(since.toordinal(), until.toordinal() + 1):
        for ad in ads:
            parts = ad_day_cells(ad, fields, ordinal, as_of, full)
            for cell, groups in parts or ():
                slot = acc.setdefault(cell, {})
                for profile, v in groups.items():
                    have = slot.get(profile)
                    if have is None:
                        slot[profile] = list(v)
                    else:
                        dv.add_into(have, v)
    out = []
    for cell, _ in cells(fields):
        summed = acc.get(cell)
        if summed and not hidden(summed, hidden_below):
            out.append((cell, summed))
    return out


def hidden(groups: dv.Groups, hidden_below: int) -> bool:
    return dv.combine(groups)[dv.IMPR] < max(1, hidden_below)


def cell_reach_key(entity_id: str, cell: Cell) -> str:
    return entity_id + "|" + "|".join(cell)
