"""The reads only pages need, each scoped to one workspace: recent fetches, entity names for
breadcrumbs, and the change marker that live updates watch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from metricx.models import Connection, Entity, Fetch, Import


def _in_workspace(stmt: Select[Any], model: Any, workspace_id: uuid.UUID) -> Select[Any]:
    return stmt.where(model.workspace_id == workspace_id)


def recent_fetches(session: Session, workspace_id: uuid.UUID, limit: int = 50) -> list[Fetch]:
    stmt = _in_workspace(select(Fetch), Fetch, workspace_id)
    return list(session.scalars(stmt.order_by(Fetch.created_at.desc()).limit(limit)))


def active_fetches(session: Session, workspace_id: uuid.UUID) -> list[Fetch]:
    """Queued or running fetches, oldest first (what a connection is busy with now)."""
    stmt = _in_workspace(select(Fetch), Fetch, workspace_id)
    stmt = stmt.where(Fetch.status.in_(("queued", "running")))
    return list(session.scalars(stmt.order_by(Fetch.created_at)))


def last_finished_fetches(session: Session, workspace_id: uuid.UUID) -> dict[uuid.UUID, Fetch]:
    """Per connection, its newest finished fetch."""
    stmt = _in_workspace(select(Fetch), Fetch, workspace_id)
    stmt = stmt.where(Fetch.finished_at.is_not(None), Fetch.connection_id.is_not(None))
    stmt = stmt.order_by(Fetch.connection_id, Fetch.finished_at.desc()).ext(
        distinct_on(Fetch.connection_id)
    )
    return {f.connection_id: f for f in session.scalars(stmt) if f.connection_id}


def entities_by_id(
    session: Session, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Entity]:
    if not ids:
        return {}
    stmt = _in_workspace(select(Entity), Entity, workspace_id).where(Entity.id.in_(ids))
    return {e.id: e for e in session.scalars(stmt)}


def connection_names(session: Session, workspace_id: uuid.UUID) -> dict[uuid.UUID, str]:
    stmt = select(Connection.id, Connection.name).where(Connection.workspace_id == workspace_id)
    return {cid: name for cid, name in session.execute(stmt)}


def change_marker(session: Session, workspace_id: uuid.UUID) -> str:
    """Changes whenever a sync or an import lands, or a connection changes state: the newest
    finished import and fetch, and the newest connection update."""
    imports = session.scalar(
        select(func.max(Import.finished_at)).where(Import.workspace_id == workspace_id)
    )
    fetches = session.execute(
        select(func.max(Fetch.finished_at), func.max(Fetch.started_at), func.count()).where(
            Fetch.workspace_id == workspace_id
        )
    ).one()
    connections = session.scalar(
        select(func.max(Connection.updated_at)).where(Connection.workspace_id == workspace_id)
    )
    parts: list[datetime | int | None] = [imports, *fetches, connections]
    return "|".join("" if p is None else str(p) for p in parts)
