"""Completeness: days an ad delivered with no hourly data at all, and active ads old enough to
have delivered that have no data yet (the new-entity blind spot)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from metricx.quality import reads
from metricx.quality.finding import MISSING_HOURS, NEW_ENTITY_WITHOUT_DATA, Finding, Window, plain


def missing_hours(session: Session, window: Window) -> list[Finding]:
    """An ad whose daily row shows impressions on a local day but which has no hourly fact in
    that day. (Hourly rows that exist but fall short are the hourly-vs-daily check's.)"""
    with_hours = {(r[0], r[2]) for r in reads.ad_hourly_sums(session, window)}
    findings = []
    rows = reads.ad_daily_facts(session, window, window.start_utc, window.end_utc)
    for entity_id, external_id, status, day, spend, impressions, clicks in rows:
        if impressions <= 0 or (entity_id, day) in with_hours:
            continue
        start, end = window.day_start(day), window.day_end(day)
        hours = int((end - start).total_seconds() // 3600)
        findings.append(
            Finding(
                kind=MISSING_HOURS,
                entity_id=entity_id,
                level="ad",
                external_id=external_id,
                period_start=start,
                period_end=end,
                numbers={
                    "expected_hours": hours,
                    "hours_with_data": 0,
                    "daily_spend": plain(spend),
                    "daily_impressions": impressions,
                    "daily_clicks": clicks,
                    "effective_status": status,
                },
                message=f"ad {external_id} ({status or 'unknown status'}) has no hourly data on "
                f"{day} ({hours} hours) although its daily row shows {impressions} impressions "
                f"and spend {plain(spend)}",
            )
        )
    return findings


def new_entities_without_data(
    session: Session, window: Window, *, grace_hours: int
) -> list[Finding]:
    """Active ads created more than ``grace_hours`` ago, with a successful sync of the
    connection after that grace period, and not a single fact."""
    synced = window.connection.last_success_at
    if synced is None:
        return []
    grace = timedelta(hours=grace_hours)
    candidates = {
        r[0]: r
        for r in reads.entities(session, window)
        if r[1] == "ad"
        and r[4] == "ACTIVE"
        and r[6] is None
        and r[5] is not None
        and r[5] + grace <= min(synced, window.now)
    }
    delivered = reads.entities_with_facts(session, window, list(candidates))
    findings = []
    for entity_id, row in candidates.items():
        if entity_id in delivered:
            continue
        created = row[5]
        age = (window.now - created).total_seconds() / 3600
        findings.append(
            Finding(
                kind=NEW_ENTITY_WITHOUT_DATA,
                entity_id=entity_id,
                level="ad",
                external_id=row[2],
                period_start=created,
                period_end=synced,
                numbers={
                    "created_time": created.isoformat(),
                    "last_successful_sync": synced.isoformat(),
                    "hours_since_created": round(age, 1),
                    "facts": 0,
                },
                message=f"active ad {row[2]} was created {age:.0f} hours ago "
                f"({created:%Y-%m-%d %H:%M} UTC) and has no data after the sync of "
                f"{synced:%Y-%m-%d %H:%M} UTC",
            )
        )
    return findings
