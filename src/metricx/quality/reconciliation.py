"""Totals against drill-downs: an ad's hourly facts against its daily fact, and the ad facts
summed per ad set, campaign and account against the totals Meta reports for those levels."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
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

MEASURES = ("spend", "impressions", "clicks")
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


def level_totals(
    session: Session,
    window: Window,
    *,
    fetch: MetaTotals,
    levels: Iterable[str],
    tolerance: float,
) -> list[Finding]:
    """The stored ad facts summed per ad set, campaign and account (through the stored
    hierarchy) against Meta's totals of that level, per local day. Days before the connection's
    first stored fact are not compared (they were never synced)."""
    first = reads.first_fact_at(session, window)
    if first is None:
        return []
    since = max(window.since, first.astimezone(window.tz).date())
    if since > window.until:
        return []
    ours: dict[tuple[str, str, date], tuple[uuid.UUID | None, Totals]] = {}
    for level, external_id, entity_id, day, spend, impressions, clicks in reads.level_sums(
        session, window
    ):
        if day >= since:
            ours[(level, external_id or "?", day)] = (entity_id, (spend, impressions, clicks))
    findings = []
    for level in levels:
        theirs: dict[tuple[str, str, date], Totals] = {}
        for row in fetch(level, since, window.until):
            theirs[(level, row.external_id, row.day)] = (row.spend, row.impressions, row.clicks)
        keys = {k for k in ours if k[0] == level} | theirs.keys()
        for key in sorted(keys):
            _, external_id, day = key
            entity_id, stored = ours.get(key, (None, (Decimal(0), 0, 0)))
            reported = theirs.get(key, (Decimal(0), 0, 0))
            numbers = _mismatch(reported, stored, tolerance)
            if numbers is None:
                continue
            findings.append(
                Finding(
                    kind=LEVEL_TOTAL_MISMATCH,
                    severity=_severity(numbers),
                    entity_id=entity_id,
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
    return findings


def _severity(numbers: dict[str, Any]) -> Severity:
    """Critical when spend is off by more than 5% of Meta's figure (what the UI must match)."""
    spend = numbers["spend"]
    expected = Decimal(spend["expected"])
    off = abs(Decimal(spend["difference"]))
    return Severity.CRITICAL if expected and off / expected > Decimal("0.05") else Severity.WARNING
