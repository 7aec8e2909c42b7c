"""The SQL behind alert conditions and the database gauges: per-connection freshness,
consecutive sync failures, failed imports. Read-only; every query is bounded by connections
(not ads), so it stays cheap at scrape time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

# The newest hour rolled up at the account level, per active, syncing connection. The rollups'
# primary key (workspace, granularity, level, event_at, ...) serves the max() backwards.
FRESHNESS_SQL = text(
    """
SELECT c.id, c.workspace_id, c.name, c.external_account_id, c.created_at, c.account_status,
       (SELECT max(r.event_at) FROM metric_rollups r
         WHERE r.workspace_id = c.workspace_id AND r.granularity = 'hour'
           AND r.level = 'account'
           AND r.entity_id IN (SELECT e.id FROM entities e
                                WHERE e.connection_id = c.id AND e.level = 'account'))
FROM connections c
WHERE c.status = 'active' AND c.sync_enabled
ORDER BY c.created_at
"""
)


@dataclass(frozen=True)
class Freshness:
    connection_id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    account: str
    created_at: datetime
    account_status: int | None
    newest_hour: datetime | None  # start of the newest hour with data

    def age_seconds(self, now: datetime) -> float | None:
        """Age of the newest complete hour: now minus that hour's end."""
        if self.newest_hour is None:
            return None
        return (now - self.newest_hour).total_seconds() - 3600.0


def freshness(session: Session) -> list[Freshness]:
    return [Freshness(*row) for row in session.execute(FRESHNESS_SQL)]


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
