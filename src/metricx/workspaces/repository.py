"""All SQL of workspaces and memberships."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from metricx.models import Membership, Workspace


def workspace_by_id(session: Session, workspace_id: uuid.UUID) -> Workspace | None:
    return session.get(Workspace, workspace_id)


def workspaces_of_user(session: Session, user_id: uuid.UUID) -> list[tuple[Workspace, Membership]]:
    rows = session.execute(
        select(Workspace, Membership)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id)
        .order_by(Workspace.created_at)
    )
    return [(w, m) for w, m in rows]


def has_unconnected_facts(session: Session, workspace_id: uuid.UUID) -> bool:
    """Whether any entity with facts was pushed without a connection (its days are the
    workspace's)."""
    return bool(
        session.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM entities e WHERE e.workspace_id = :ws"
                " AND e.connection_id IS NULL AND EXISTS (SELECT 1 FROM metric_facts f"
                " WHERE f.workspace_id = :ws AND f.entity_id = e.id))"
            ),
            {"ws": workspace_id},
        ).scalar()
    )
