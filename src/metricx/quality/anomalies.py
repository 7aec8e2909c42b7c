"""Anomalies: an ad's daily spend or impressions jumping or collapsing against its own recent
pattern (median and MAD of its last days), and facts that cannot be right as they stand
(clicks above impressions, spend without impressions)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from statistics import median

from sqlalchemy.orm import Session

from metricx.quality import reads
from metricx.quality.finding import (
    CLICKS_OVER_IMPRESSIONS,
    IMPRESSIONS_COLLAPSE,
    IMPRESSIONS_JUMP,
    SPEND_COLLAPSE,
    SPEND_JUMP,
    SPEND_WITHOUT_IMPRESSIONS,
    Finding,
    Window,
    plain,
)

MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class AnomalyRules:
    baseline_days: int
    min_baseline_days: int
    z: float
    ratio: float
    min_spend: float
    min_impressions: int


def _verdict(value: float, baseline: list[float], rules: AnomalyRules, floor: float) -> str | None:
    m = median(baseline)
    if m < floor:
        return None  # too small an entity for its swings to mean anything
    mad = median(abs(b - m) for b in baseline)
    scale = max(MAD_TO_SIGMA * mad, 0.05 * m)
    if value > m + rules.z * scale and value >= rules.ratio * m:
        return "jump"
    if value < m - rules.z * scale and value <= m / rules.ratio:
        return "collapse"
    return None


def level_shifts(session: Session, window: Window, *, rules: AnomalyRules) -> list[Finding]:
    """Each ad and day of the window against the ad's previous ``baseline_days`` days with
    data. A collapse is only reported for ads Meta still calls ACTIVE (a paused ad is meant to
    stop); a missing day of such an ad counts as zero."""
    start = window.day_start(window.since - timedelta(days=rules.baseline_days))
    series: dict[uuid.UUID, dict[date, tuple[float, float]]] = {}
    names: dict[uuid.UUID, tuple[str, str | None]] = {}
    for entity_id, external_id, status, day, spend, impressions, _ in reads.ad_daily_facts(
        session, window, start, window.end_utc
    ):
        series.setdefault(entity_id, {})[day] = (float(spend), float(impressions))
        names[entity_id] = (external_id, status)
    findings = []
    for entity_id, days in series.items():
        external_id, status = names[entity_id]
        for day in window.days():
            if day not in days and status != "ACTIVE":
                continue
            history = [
                days[d]
                for d in (day - timedelta(days=i) for i in range(1, rules.baseline_days + 1))
                if d in days
            ]
            if len(history) < rules.min_baseline_days:
                continue
            value = days.get(day, (0.0, 0.0))
            for i, (measure, floor) in enumerate(
                (("spend", rules.min_spend), ("impressions", float(rules.min_impressions)))
            ):
                baseline = [h[i] for h in history]
                verdict = _verdict(value[i], baseline, rules, floor)
                if verdict is None or (verdict == "collapse" and status != "ACTIVE"):
                    continue
                kind = {
                    ("spend", "jump"): SPEND_JUMP,
                    ("spend", "collapse"): SPEND_COLLAPSE,
                    ("impressions", "jump"): IMPRESSIONS_JUMP,
                    ("impressions", "collapse"): IMPRESSIONS_COLLAPSE,
                }[(measure, verdict)]
                m = median(baseline)
                shown = plain(Decimal(str(round(value[i], 6))))
                findings.append(
                    Finding(
                        kind=kind,
                        entity_id=entity_id,
                        level="ad",
                        external_id=external_id,
                        period_start=window.day_start(day),
                        period_end=window.day_end(day),
                        numbers={
                            "measure": measure,
                            "expected": round(m, 6),
                            "actual": value[i],
                            "difference": round(value[i] - m, 6),
                            "baseline_days": len(baseline),
                            "baseline_mad": round(median(abs(b - m) for b in baseline), 6),
                        },
                        message=f"ad {external_id} on {day}: {measure} {shown} against a median "
                        f"of {m:.2f} over its previous {len(baseline)} days ({verdict})",
                    )
                )
    return findings


def impossible_facts(session: Session, window: Window) -> list[Finding]:
    """Facts (hourly or daily, any level) with clicks above impressions, or spend with no
    impressions; one finding per entity, local day and rule."""
    findings = []
    for (
        entity_id,
        level,
        external_id,
        day,
        rule,
        count,
        spend,
        impressions,
        clicks,
    ) in reads.suspicious_facts(session, window):
        clicks_rule = rule == "clicks"
        what = (
            f"clicks {clicks} above impressions {impressions}"
            if clicks_rule
            else f"spend {plain(spend)} without impressions"
        )
        findings.append(
            Finding(
                kind=CLICKS_OVER_IMPRESSIONS if clicks_rule else SPEND_WITHOUT_IMPRESSIONS,
                entity_id=entity_id,
                level=level,
                external_id=external_id,
                period_start=window.day_start(day),
                period_end=window.day_end(day),
                numbers={
                    "facts": count,
                    "spend": plain(spend),
                    "impressions": impressions,
                    "clicks": clicks,
                },
                message=f"{level} {external_id} on {day}: {count} facts with {what}",
            )
        )
    return findings
