"""Findings and parent snapshots: every query scoped by workspace through ``_findings``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from metricx.models import Connection, EntityParentSnapshot, QualityFinding, Severity


def _findings(workspace_id: uuid.UUID) -> Select[QualityFinding]:
    return select(QualityFinding).where(QualityFinding.workspace_id == workspace_id)


def connection_in(
    session: Session, workspace_id: uuid.UUID, connection_id: uuid.UUID
) -> Connection | None:
    return session.scalars(
        select(Connection).where(
            Connection.workspace_id == workspace_id, Connection.id == connection_id
        )
    ).first()


def open_findings(
    session: Session, workspace_id: uuid.UUID, connection_id: uuid.UUID
) -> list[QualityFinding]:
    query = _findings(workspace_id).where(
        QualityFinding.connection_id == connection_id, QualityFinding.resolved_at.is_(None)
    )
    return list(session.scalars(query))


def add(session: Session, finding: QualityFinding) -> None:
    session.add(finding)


def list_findings(
    session: Session,
    workspace_id: uuid.UUID,
    *,
    connection_id: uuid.UUID | None,
    kind: str | None,
    since: datetime | None,
    status: str,
    limit: int,
) -> list[QualityFinding]:
    query = _findings(workspace_id)
    if connection_id is not None:
        query = query.where(QualityFinding.connection_id == connection_id)
    if kind is not None:
        query = query.where(QualityFinding.kind == kind)
    if since is not None:
        query = query.where(QualityFinding.last_seen_at >= since)
    if status == "open":
        query = query.where(QualityFinding.resolved_at.is_(None))
    elif status == "resolved":
        query = query.where(QualityFinding.resolved_at.is_not(None))
    query = query.order_by(
        QualityFinding.last_seen_at.desc(), QualityFinding.period_start.desc().nulls_last()
    )
    return list(session.scalars(query.limit(limit)))


def open_counts(
    session: Session, workspace_id: uuid.UUID, connection_id: uuid.UUID
) -> dict[tuple[str, Severity], int]:
    query = (
        select(QualityFinding.kind, QualityFinding.severity, func.count())
        .where(
            QualityFinding.workspace_id == workspace_id,
            QualityFinding.connection_id == connection_id,
            QualityFinding.resolved_at.is_(None),
        )
        .group_by(QualityFinding.kind, QualityFinding.severity)
    )
    return {(kind, sev): n for kind, sev, n in session.execute(query).all()}


def record_parents(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    parents: dict[uuid.UUID, uuid.UUID | None],
    now: datetime,
) -> Sequence[EntityParentSnapshot]:
    """Compare each entity's parent with the snapshot, note a move, store the new parent;
    returns the snapshots (a first sighting is not a move)."""
    if not parents:
        return []
    known = {
        s.entity_id: s
        for s in session.scalars(
            select(EntityParentSnapshot).where(
                EntityParentSnapshot.workspace_id == workspace_id,
                EntityParentSnapshot.entity_id.in_(list(parents)),
            )
        )
    }
    for entity_id, parent_id in parents.items():
        snap = known.get(entity_id)
        if snap is None:
            snap = EntityParentSnapshot(
                entity_id=entity_id, workspace_id=workspace_id, parent_id=parent_id, recorded_at=now
            )
            session.add(snap)
            known[entity_id] = snap
        elif snap.parent_id != parent_id:
            snap.previous_parent_id, snap.parent_id, snap.moved_at = snap.parent_id, parent_id, now
            snap.recorded_at = now
    session.flush()
    return list(known.values())


# Ads a sync stored from insights before any entity sync listed them: an entity sync always
# writes a name and a status, the ingest service's placeholder has neither. Their facts are
# read through the (entity_id, event_at) index: there are few such ads.
_UNLISTED_ADS = text(
    """
    SELECT c.id AS connection_id, c.name AS connection_name, c.currency, e.id AS entity_id,
           e.external_id, s.external_id AS adset_external_id,
           p.external_id AS campaign_external_id, e.created_at AS first_seen_at,
           count(f.event_at) AS facts,
           (min(f.event_at) AT TIME ZONE c.timezone)::date AS first_day,
           (max(f.event_at) AT TIME ZONE c.timezone)::date AS last_day,
           coalesce(sum(f.spend) FILTER (WHERE f.granularity = 'day'),
                    sum(f.spend) FILTER (WHERE f.granularity = 'hour'), 0) AS spend
    FROM entities e
    JOIN connections c ON c.id = e.connection_id AND c.workspace_id = :ws
    LEFT JOIN entities s ON s.id = e.parent_id
    LEFT JOIN entities p ON p.id = s.parent_id
    LEFT JOIN metric_facts f ON f.entity_id = e.id AND f.workspace_id = :ws AND f.level = 'ad'
    WHERE e.workspace_id = :ws AND e.level = 'ad' AND e.name IS NULL AND e.status IS NULL
      AND (CAST(:cid AS uuid) IS NULL OR e.connection_id = CAST(:cid AS uuid))
    GROUP BY c.id, c.workspace_id, e.id, e.workspace_id, s.external_id, p.external_id
    ORDER BY c.name, c.id, spend DESC, e.external_id
    LIMIT :limit
    """
)


def unlisted_ads(
    session: Session, workspace_id: uuid.UUID, *, connection_id: uuid.UUID | None, limit: int
) -> list[dict[str, Any]]:
    """Ads of the workspace's connections known only from insights, with their facts so far
    (``_UNLISTED_ADS``'s columns), per connection, the biggest spenders first."""
    rows = session.execute(
        _UNLISTED_ADS, {"ws": workspace_id, "cid": connection_id, "limit": limit}
    )
    return [dict(r._mapping) for r in rows]
