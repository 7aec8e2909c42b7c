"""A row of an answer as the API shows it: money to the cent (or in full when finer), costs
per unit to 4 places, shares as float quotients, the result type a row carries; and the order
rows sort in. Shared by the query service and the answers it delegates (per creative, per
breakdown value), and by the pages that format rows of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from metricx.facts import measures as registry
from metricx.integrations.meta import results as results_map
from metricx.metrics.schemas import MIXED

_CENT = Decimal("0.01")
_PRICE = Decimal("0.0001")
_THOUSAND = Decimal(1000)


def money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    cents = value.quantize(_CENT)
    return format(cents if cents == value else value.normalize(), "f")


def price(
    num: Decimal | None, den: Decimal | int | None, scale: Decimal | None = None
) -> str | None:
    """A cost per unit to 4 places (CPC, CPM, CPA, cost per lead); null without a base."""
    if num is None or not den:
        return None
    value = (num * scale if scale is not None else num) / Decimal(den)
    return money(value.quantize(_PRICE, rounding=ROUND_HALF_UP))


def share(num: Decimal | int | None, den: Decimal | int | None) -> float | None:
    """A ratio as a float (CTR, ROAS, conversion rate): the quotient of the bases as floats,
    as the database computes it for series; null without a base."""
    if num is None or not den:
        return None
    return float(num) / float(den)


_ROW_MEASURES = registry.rolled()
_WHOLE = frozenset(m.name for m in _ROW_MEASURES if m.whole)
_ROW_NAMES = tuple(m.name for m in _ROW_MEASURES)


def metric_row(values: dict[str, Any]) -> dict[str, Any]:
    """Base measures as the API shows them, plus the ratios derived from them (series rows
    get the same from ``repository.formatted``, computed in the database)."""
    get = values.get
    spend, imps, clicks = get("spend"), get("impressions"), get("clicks")
    conv, leads, value = get("conversions"), get("leads"), get("purchase_value")
    if spend is not None and not isinstance(spend, Decimal):
        spend = Decimal(spend)
    row: dict[str, Any] = dict.fromkeys(_ROW_NAMES)  # not reported: most rows lack most
    row["currency"] = values["currency"]
    for name in _ROW_NAMES:
        v = get(name)
        if v is not None:
            row[name] = int(v) if name in _WHOLE else money(v)
    row["spend"] = money(spend)
    return row | {
        "ctr": share(clicks, imps),
        "cpc": price(spend, clicks),
        "cpm": price(spend, imps, _THOUSAND),
        "cpa": price(spend, conv),
        "roas": share(value, spend),
        "conversion_rate": share(conv, clicks),
        "cost_per_lead": price(spend, leads),
        "ctr_link": share(get("link_clicks"), imps),
        "cpc_link": price(spend, get("link_clicks")),
        "cost_per_thruplay": price(spend, get("thruplays")),
        "avg_play_time": share(get("video_watch_seconds"), get("video_plays")),
        "cost_per_result": price(spend, get("results")),
        "result_type": None,
        "reach": None,
        "frequency": None,
    }


def one_result_type(kinds: Iterable[str | None]) -> str | None:
    """The result type of a row summing ad sets of these result types: theirs when they
    share one, else "mixed" (an ad set without a known result mixed with others too)."""
    found = set(kinds)
    if len(found) > 1:
        return MIXED
    return next(iter(found), None)


def with_result_type(row: dict[str, Any], kind: str | None) -> None:
    """Set a row's result type; a mixed row has no results (Ads Manager shows no single
    number), and results that are reach are the row's reach (never a sum), if known."""
    row["result_type"] = kind
    if kind == MIXED:
        row["results"] = row["cost_per_result"] = None
    elif kind is not None and not results_map.is_summable(kind):
        reach = row.get("reach")
        spend = Decimal(row["spend"]) if row.get("spend") is not None else None
        row["results"] = money(Decimal(reach)) if reach is not None else None
        row["cost_per_result"] = price(spend, reach)


def sort_key(row: dict[str, Any], sort: str) -> tuple[int, Any]:
    v = row.get(sort)
    if v is None:
        return (1, 0)
    return (0, Decimal(v) if isinstance(v, str) and sort != "name" else v)


def ordered(
    rows: list[dict[str, Any]],
    sort: str,
    descending: bool,
    limit: int | None,
    tie: Callable[[dict[str, Any]], Any],
) -> list[dict[str, Any]]:
    """Answer rows in the order asked: by ``sort`` (``sort_key``), rows without it last
    whichever way, ties in ``tie``'s order; the first ``limit``."""
    out = sorted(rows, key=tie)
    out.sort(key=lambda r: sort_key(r, sort), reverse=descending)
    if sort != "name" and descending:
        out = [r for r in out if r.get(sort) is not None] + [r for r in out if r.get(sort) is None]
    return out if limit is None else out[:limit]
