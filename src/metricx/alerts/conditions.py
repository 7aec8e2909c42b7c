"""The SQL behind alert conditions and the database gauges: per-connection freshness (its
definition is ``metrics.freshness``), consecutive sync failures, failed imports. Read-only;
every query is bounded by connections (not ads), so it stays cheap at scrape time."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.metrics.freshness import ConnectionFreshness, connection_freshness
from metricx.models import ConnectionStatus


def freshness(session: Session) -> list[ConnectionFreshness]:
    """The freshness (``metrics.freshness``) of every active, syncing connection: the
    connections the data-freshness gauge reports."""
    return [
        f
        for f in connection_freshness(session)
        if f.status is ConnectionStatus.ACTIVE and f.sync_enabled
    ]


def recent_sync_outcomes(session: Session, per_connection: int) -> dict[uuid.UUID, list[str]]:
    """The newest finished fetches' statuses (newest first) of each active connection."""
    rows = session.execute(
        text(
            """
SELECT c.id, f.status, f.at FROM connections c
CROSS JOIN LATERAL (
    SELECT status, coalesce(finished_at, created_at) AS at FROM fetches
    WHERE connection_id = c.id AND status IN ('succeeded', 'partial', 'failed')
    ORDER BY coalesce(finished_at, created_at) DESC LIMIT :n) f
WHERE c.status IN ('active', 'error') AND c.sync_enabled
ORDER BY c.id, f.at DESC
"""
        ),
        {"n": per_connection},
    )
    out: dict[uuid.UUID, list[str]] = {}
    for connection_id, status, _at in rows:
        out.setdefault(connection_id, []).append(status)
    return out


def last_fetch_error(session: Session, connection_id: uuid.UUID) -> str | None:
    return session.execute(
        text(
            "SELECT error FROM fetches WHERE connection_id = :c AND status = 'failed' "
            "ORDER BY coalesce(finished_at, created_at) DESC LIMIT 1"
        ),
        {"c": connection_id},
    ).scalar()
