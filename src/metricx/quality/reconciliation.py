"""Totals against drill-downs: an ad's hourly facts against its daily fact, and the ad facts
summed per ad set, campaign and account against the totals Meta reports for those levels
(spend, impressions, clicks, and under the default attribution purchases, purchase value and
results)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from metricx.integrations.meta.client import MetaAdsClient
from metricx.integrations.meta.fetcher import MetaInsightsFetcher
from metricx.integrations.meta.insights_rows import LevelTotalsRow
from metricx.models import Severity
from metricx.quality import reads
from metricx.quality.finding import (
    HOURLY_VS_DAILY,
    LEVEL_TOTAL_MISMATCH,
    Finding,
    Window,
    comparison,
    differs,
)

MEASURES = ("spend", "impressions", "clicks")  # the hourly-vs-daily comparison
Totals = tuple[Decimal, int, int]
# (level, since, until) -> Meta's daily totals of every object of that level.
MetaTotals = Callable[[str, date, date], Iterable[LevelTotalsRow]]


def meta_totals(client: MetaAdsClient, account_id: str) -> MetaTotals:
    """Meta's own daily totals per account, campaign or ad set (deleted objects included, as
    the sync includes their ads), read and parsed by the same fetcher as the sync's."""
    fetcher = MetaInsightsFetcher(client, account_id=account_id)
    return fetcher.level_totals


def _mismatch(expected: Totals, actual: Totals, tolerance: float) -> dict[str, Any] | None:
    pairs: list[tuple[Decimal | int, Decimal | int]] = list(zip(expected, actual, strict=True))
    if not any(differs(e, a, tolerance) for e, a in pairs):
        return None
    return {m: comparison(e, a) for m, e, a in zip(MEASURES, expected, actual, strict=True)}


def _describe(numbers: dict[str, Any]) -> str:
    parts = [
        f"{m} {v['actual']} vs {v['expected']}"
        for m, v in numbers.items()
        if isinstance(v, dict) and v["difference"] not in ("0", 0)
    ]
    return ", ".join(parts)


def hourly_vs_daily(session: Session, window: Window, *, tolerance: float) -> list[Finding]:
    """Each ad's hourly facts over a local day (23, 24 or 25 hours) must add up to its daily
    fact: spend, impressions and clicks."""
    start, end = window.start_utc, window.end_utc
    daily: dict[tuple[uuid.UUID, date], tuple[str, Totals]] = {
        (r[0], r[3]): (r[1], (r[4], r[5], r[6]))
        for r in reads.ad_daily_facts(session, window, start, end)
    }
    hourly = {
        (r[0], r[2]): (r[1], (r[3], r[4], r[5])) for r in reads.ad_hourly_sums(session, window)
    }
    findings = []
    for key in sorted(hourly):
        entity_id, day = key
        external_id, hours = hourly[key]
        _, days = daily.get(key, (external_id, (Decimal(0), 0, 0)))
        numbers = _mismatch(days, hours, tolerance)
        if numbers is None:
            continue
        numbers["daily_fact"] = key in daily
        findings.append(
            Finding(
                kind=HOURLY_VS_DAILY,
                entity_id=entity_id,
                level="ad",
                external_id=external_id,
                period_start=window.day_start(day),
                period_end=window.day_end(day),
                numbers=numbers,
                message=f"ad {external_id} on {day}: hourly sums differ from the daily row "
                f"(hourly vs daily: {_describe(numbers)})"
                + ("" if key in daily else "; there is no daily row"),
            )
        )
    return findings


CONVERSIONS = ("purchases", "purchase_value")
MIXED_SETTINGS = (
    "their ad sets mix attribution settings, for which Meta reports no conversion total"
)
MIXED_RESULTS = "their ad sets count different results, for which Meta reports no total"
REACH_RESULTS = "their results are reach, which does not add up across days and ads"


@dataclass
class Stored:
    """Our ad facts summed to one entity and day."""

    entity_id: uuid.UUID | None
    spend: Decimal = Decimal(0)
    impressions: int = 0
    clicks: int = 0
    purchases: Decimal | None = None
    purchase_value: Decimal | None = None
    results: Decimal | None = None
    settings: int = 0  # distinct attribution settings of the ad sets that delivered
    result_types: int = 0


def _compared(
    stored: Stored, reported: LevelTotalsRow | None, skips: dict[str, list[str]], where: str
) -> dict[str, tuple[Decimal | int, Decimal | int]]:
    """measure -> (Meta's, ours) for every measure this entity-day can be compared on; the
    others are noted in ``skips`` (reason -> where)."""
    zero = Decimal(0)
    pairs: dict[str, tuple[Decimal | int, Decimal | int]] = {
        "spend": (reported.spend if reported else zero, stored.spend),
        "impressions": (reported.impressions if reported else 0, stored.impressions),
        "clicks": (reported.clicks if reported else 0, stored.clicks),
    }
    mixed_settings = stored.settings > 1 or (
        reported is not None and reported.attribution_setting == "mixed"
    )
    if mixed_settings:
        skips.setdefault(MIXED_SETTINGS, []).append(where)
    elif reported is None or reported.purchases is not None:
        pairs["purchases"] = (
            reported.purchases or zero if reported else zero,
            stored.purchases or zero,
        )
        pairs["purchase_value"] = (
            reported.purchase_value or zero if reported else zero,
            stored.purchase_value or zero,
        )
    if stored.result_types > 1:
        skips.setdefault(MIXED_RESULTS, []).append(where)
    elif reported is not None and reported.result_indicator == "reach":
        skips.setdefault(REACH_RESULTS, []).append(where)
    elif reported is not None and reported.results is not None:
        pairs["results"] = (reported.results, stored.results or zero)
    elif reported is None and stored.results:
        pairs["results"] = (zero, stored.results)
    return pairs


def level_totals(
    session: Session,
    window: Window,
    *,
    fetch: MetaTotals,
    levels: Iterable[str],
    tolerance: float,
    skipped: dict[str, str] | None = None,
) -> list[Finding]:
    """The stored ad facts summed per ad set, campaign and account (through the stored
    hierarchy) against Meta's totals of that level, per local day: spend, impressions and
    clicks, and under the default attribution purchases, purchase value and results. Days
    before the connection's first stored fact are not compared (they were never synced).
    Conversions of a row whose ad sets mix attribution settings, and results of one mixing
    result types (or counting reach), are not compared: Meta reports no such total; each
    reason goes into ``skipped`` with where it applied."""
    first = reads.first_fact_at(session, window)
    if first is None:
        return []
    since = max(window.since, first.astimezone(window.tz).date())
    if since > window.until:
        return []
    ours: dict[tuple[str, str, date], Stored] = {}
    for row in reads.level_sums(session, window):
        level, external_id, entity_id, day = row[:4]
        if day >= since:
            ours[(level, external_id or "?", day)] = Stored(entity_id, *row[4:])
    findings = []
    skips: dict[str, list[str]] = {}
    for level in levels:
        theirs: dict[tuple[str, str, date], LevelTotalsRow] = {}
        for reported in fetch(level, since, window.until):
            theirs[(level, reported.external_id, reported.day)] = reported
        keys = {k for k in ours if k[0] == level} | theirs.keys()
        for key in sorted(keys):
            _, external_id, day = key
            stored = ours.get(key, Stored(None))
            pairs = _compared(stored, theirs.get(key), skips, f"{level} {external_id} on {day}")
            if not any(differs(e, a, tolerance) for e, a in pairs.values()):
                continue
            numbers = {m: comparison(e, a) for m, (e, a) in pairs.items()}
            findings.append(
                Finding(
                    kind=LEVEL_TOTAL_MISMATCH,
                    severity=_severity(numbers),
                    entity_id=stored.entity_id,
                    level=level,
                    external_id=external_id,
                    period_start=window.day_start(day),
                    period_end=window.day_end(day),
                    numbers=numbers,
                    detail=level,
                    message=f"{level} {external_id} on {day}: the sum of its ads differs from "
                    f"Meta's {level} total (ads vs Meta: {_describe(numbers)})",
                )
            )
    if skipped is not None:
        for reason, where in skips.items():
            measure = "results" if reason in (MIXED_RESULTS, REACH_RESULTS) else "conversions"
            shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
            skipped[f"level_totals.{measure}"] = f"not compared for {shown}: {reason}"
    return findings


def _severity(numbers: dict[str, Any]) -> Severity:
    """Critical when spend is off by more than 5% of Meta's figure (what the UI must match)."""
    spend = numbers["spend"]
    expected = Decimal(spend["expected"])
    off = abs(Decimal(spend["difference"]))
    return Severity.CRITICAL if expected and off / expected > Decimal("0.05") else Severity.WARNING
