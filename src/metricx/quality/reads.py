"""The SQL the checks read: facts and entities of one connection, always scoped by its
workspace and connection through ``_scope`` (facts only ever through their entity)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.quality.finding import Window

ENTITY_SCOPE = "e.workspace_id = :ws AND e.connection_id = :cid"


def _scope(window: Window, **extra: Any) -> dict[str, Any]:
    return {
        "ws": window.workspace_id,
        "cid": window.connection.id,
        "tz": window.connection.timezone,
        **extra,
    }


def _rows(session: Session, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    assert ENTITY_SCOPE in sql, "every quality read is scoped by workspace and connection"
    return [tuple(r) for r in session.execute(text(sql), params).all()]


def ad_daily_facts(
    session: Session, window: Window, start: datetime, end: datetime
) -> list[tuple[Any, ...]]:
    """(entity_id, external_id, effective_status, day, spend, impressions, clicks)."""
    sql = f"""
        SELECT e.id, e.external_id, e.effective_status, (f.event_at AT TIME ZONE :tz)::date,
               f.spend, f.impressions, f.clicks
        FROM metric_facts f JOIN entities e ON e.id = f.entity_id
        WHERE {ENTITY_SCOPE} AND f.workspace_id = :ws AND f.level = 'ad' AND e.level = 'ad'
          AND f.granularity = 'day' AND f.event_at >= :start AND f.event_at < :end"""
    return _rows(session, sql, _scope(window, start=start, end=end))


def ad_hourly_sums(session: Session, window: Window) -> list[tuple[Any, ...]]:
    """Per ad and local day: (entity_id, external_id, day, spend, impressions, clicks, hours)."""
    sql = f"""
        SELECT e.id, e.external_id, (f.event_at AT TIME ZONE :tz)::date AS day,
               sum(f.spend), sum(f.impressions)::bigint, sum(f.clicks)::bigint, count(*)
        FROM metric_facts f JOIN entities e ON e.id = f.entity_id
        WHERE {ENTITY_SCOPE} AND f.workspace_id = :ws AND f.level = 'ad' AND e.level = 'ad'
          AND f.granularity = 'hour' AND f.event_at >= :start AND f.event_at < :end
        GROUP BY e.id, e.external_id, day"""
    return _rows(session, sql, _scope(window, start=window.start_utc, end=window.end_utc))


def level_sums(session: Session, window: Window) -> list[tuple[Any, ...]]:
    """Ad daily facts summed per ancestor: (level, external_id, entity_id, day, spend,
    impressions, clicks, purchases, purchase_value, results, settings, result types), through
    the stored hierarchy (ad -> ad set -> campaign -> account). ``settings`` and ``result
    types`` count the distinct attribution settings and result types of the ad sets that
    delivered (Meta omits conversion figures of a row mixing them); purchases, value and
    results are null where no ad reported them."""
    sql = f"""
        WITH ads AS (
          SELECT (f.event_at AT TIME ZONE :tz)::date AS day, f.spend, f.impressions, f.clicks,
                 f.purchases, f.purchase_value, f.results,
                 coalesce(s.attribution_setting, '') AS setting,
                 coalesce(s.result_type, '') AS result_type,
                 s.id AS adset, c.id AS campaign, a.id AS account
          FROM metric_facts f JOIN entities e ON e.id = f.entity_id
          LEFT JOIN entities s ON s.id = e.parent_id
          LEFT JOIN entities c ON c.id = s.parent_id
          LEFT JOIN entities a ON a.id = c.parent_id
          WHERE {ENTITY_SCOPE} AND f.workspace_id = :ws AND f.level = 'ad' AND e.level = 'ad'
            AND f.granularity = 'day' AND f.event_at >= :start AND f.event_at < :end
        ), up AS (
          SELECT 'adset' AS level, adset AS id, * FROM ads
          UNION ALL SELECT 'campaign', campaign, * FROM ads
          UNION ALL SELECT 'account', account, * FROM ads
        )
        SELECT up.level, g.external_id, g.id, up.day, sum(up.spend),
               sum(up.impressions)::bigint, sum(up.clicks)::bigint, sum(up.purchases),
               sum(up.purchase_value), sum(up.results),
               count(DISTINCT up.setting) FILTER (WHERE up.impressions > 0 OR up.spend > 0),
               count(DISTINCT up.result_type) FILTER (WHERE up.impressions > 0 OR up.spend > 0)
        FROM up LEFT JOIN entities g ON g.id = up.id
        GROUP BY up.level, g.external_id, g.id, up.day"""
    return _rows(session, sql, _scope(window, start=window.start_utc, end=window.end_utc))


def first_fact_at(session: Session, window: Window) -> datetime | None:
    sql = f"""
        SELECT min(f.event_at) FROM metric_facts f JOIN entities e ON e.id = f.entity_id
        WHERE {ENTITY_SCOPE} AND f.workspace_id = :ws AND f.level = 'ad'
          AND f.granularity = 'day' AND f.event_at < :end"""
    rows = _rows(session, sql, _scope(window, end=window.end_utc))
    return rows[0][0] if rows else None


def entities(session: Session, window: Window) -> list[tuple[Any, ...]]:
    """(id, level, external_id, parent_id, effective_status, created_time, removed_at,
    parent level, parent connection_id, parent removed_at, parent external_id)."""
    sql = f"""
        SELECT e.id, e.level, e.external_id, e.parent_id, e.effective_status, e.created_time,
               e.removed_at, p.level, p.connection_id, p.removed_at, p.external_id
        FROM entities e LEFT JOIN entities p ON p.id = e.parent_id
        WHERE {ENTITY_SCOPE}"""
    return _rows(session, sql, _scope(window))


def entities_with_facts(session: Session, window: Window, ids: list[Any]) -> set[Any]:
    if not ids:
        return set()
    sql = f"""
        SELECT e.id FROM entities e
        WHERE {ENTITY_SCOPE} AND e.id = ANY(:ids)
          AND EXISTS (SELECT 1 FROM metric_facts f WHERE f.entity_id = e.id)"""
    return {r[0] for r in _rows(session, sql, _scope(window, ids=ids))}


def mismatched_facts(session: Session, window: Window) -> list[tuple[Any, ...]]:
    """Facts whose entity is not what they claim (another workspace, provider or level), or
    dated after Meta stopped returning the entity: (entity_id, level, external_id, reason,
    first, last, facts, spend, impressions)."""
    sql = f"""
        SELECT e.id, e.level, e.external_id,
               CASE WHEN f.workspace_id <> e.workspace_id THEN 'workspace'
                    WHEN f.provider <> e.provider THEN 'provider'
                    WHEN f.level <> e.level THEN 'level:' || f.level
                    ELSE 'removed' END AS reason,
               min(f.event_at), max(f.event_at), count(*), sum(f.spend), sum(f.impressions)::bigint
        FROM metric_facts f JOIN entities e ON e.id = f.entity_id
        WHERE {ENTITY_SCOPE} AND f.event_at >= :start AND f.event_at < :end
          AND (f.workspace_id <> e.workspace_id OR f.provider <> e.provider
               OR f.level <> e.level OR (e.removed_at IS NOT NULL AND f.event_at > e.removed_at))
        GROUP BY e.id, e.level, e.external_id, reason"""
    return _rows(session, sql, _scope(window, start=window.start_utc, end=window.end_utc))


def suspicious_facts(session: Session, window: Window) -> list[tuple[Any, ...]]:
    """Per entity, local day and rule: (entity_id, level, external_id, day, rule, facts,
    spend, impressions, clicks) of facts with clicks above impressions or spend without any."""
    sql = f"""
        SELECT e.id, e.level, e.external_id, (f.event_at AT TIME ZONE :tz)::date AS day,
               CASE WHEN f.clicks > f.impressions THEN 'clicks' ELSE 'spend' END AS rule,
               count(*), sum(f.spend), sum(f.impressions)::bigint, sum(f.clicks)::bigint
        FROM metric_facts f JOIN entities e ON e.id = f.entity_id
        WHERE {ENTITY_SCOPE} AND f.workspace_id = :ws
          AND f.event_at >= :start AND f.event_at < :end
          AND (f.clicks > f.impressions OR (f.spend > 0 AND f.impressions = 0))
        GROUP BY e.id, e.level, e.external_id, day, rule"""
    return _rows(session, sql, _scope(window, start=window.start_utc, end=window.end_utc))
