"""The reads only pages need, each scoped to one workspace: recent fetches, entity names for
breadcrumbs, and the change marker that live updates watch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.orm import Session

from metricx.models import Connection, Entity, Fetch, Import, SavedView

# How many campaigns a name search narrows the dashboard to, and how many names the search
# box suggests.
SEARCH_LIMIT = 500
SUGGESTIONS = 200


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
    return {cid: name for cid, name in session.execute(stmt.order_by(Connection.name))}


def _campaigns(workspace_id: uuid.UUID, connection_ids: Sequence[uuid.UUID]) -> Select[Any]:
    stmt = select(Entity.id).where(Entity.workspace_id == workspace_id, Entity.level == "campaign")
    if connection_ids:
        stmt = stmt.where(Entity.connection_id.in_(connection_ids))
    return stmt


def campaigns_matching(
    session: Session, workspace_id: uuid.UUID, text: str, connection_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """The campaigns whose name contains ``text`` (case-insensitive, taken literally)."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    stmt = _campaigns(workspace_id, connection_ids).where(Entity.name.ilike(pattern, escape="\\"))
    return list(session.scalars(stmt.order_by(Entity.name).limit(SEARCH_LIMIT)))


def campaign_names(
    session: Session, workspace_id: uuid.UUID, connection_ids: Sequence[uuid.UUID]
) -> list[str]:
    """Campaign names the search box suggests."""
    stmt = _campaigns(workspace_id, connection_ids).with_only_columns(Entity.name).distinct()
    stmt = stmt.where(Entity.name.is_not(None)).order_by(Entity.name).limit(SUGGESTIONS)
    return [n for n in session.scalars(stmt) if n]


def saved_views(session: Session, workspace_id: uuid.UUID) -> list[SavedView]:
    stmt = _in_workspace(select(SavedView), SavedView, workspace_id)
    return list(session.scalars(stmt.order_by(func.lower(SavedView.name))))


def save_view(
    session: Session, workspace_id: uuid.UUID, name: str, query: str, user_id: uuid.UUID
) -> uuid.UUID:
    """Saves the view under ``name``; a view of that name already saved takes the new query."""
    stmt = (
        insert(SavedView)
        .values(workspace_id=workspace_id, name=name, query=query, created_by=user_id)
        .on_conflict_do_update(
            index_elements=[SavedView.workspace_id, SavedView.name], set_={"query": query}
        )
        .returning(SavedView.id)
    )
    return session.execute(stmt).scalar_one()


def delete_saved_view(session: Session, workspace_id: uuid.UUID, view_id: uuid.UUID) -> bool:
    gone = session.execute(
        delete(SavedView).where(SavedView.workspace_id == workspace_id, SavedView.id == view_id)
    )
    return bool(getattr(gone, "rowcount", 0))


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
