"""All SQL of conversions: Meta's custom conversions (synced), the workspace's named
conversions, and the action types a workspace's facts have. Every query is scoped by
workspace."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from metricx.models import CustomConversion, WorkspaceConversion


def upsert_custom_conversions(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or update custom conversions (keyed by workspace and Meta's id); returns how
    many rows were given."""
    values = list(rows)
    if not values:
        return 0
    stmt = insert(CustomConversion).values(values)
    columns = [c for c in values[0] if c not in ("workspace_id", "external_id")]
    stmt = stmt.on_conflict_do_update(
        index_elements=[CustomConversion.workspace_id, CustomConversion.external_id],
        set_={c: stmt.excluded[c] for c in columns},
    )
    session.execute(stmt)
    return len(values)


def custom_conversions(
    session: Session, workspace_id: uuid.UUID, *, ids: Iterable[str] | None = None
) -> list[CustomConversion]:
    stmt = select(CustomConversion).where(CustomConversion.workspace_id == workspace_id)
    if ids is not None:
        stmt = stmt.where(CustomConversion.external_id.in_(list(ids)))
    return list(session.scalars(stmt.order_by(CustomConversion.name, CustomConversion.external_id)))


def custom_conversion_names(session: Session, workspace_id: uuid.UUID) -> dict[str, str]:
    """Meta's custom conversion id -> its name."""
    rows = session.execute(
        select(CustomConversion.external_id, CustomConversion.name).where(
            CustomConversion.workspace_id == workspace_id
        )
    )
    return {r[0]: r[1] for r in rows}


def conversions(session: Session, workspace_id: uuid.UUID) -> list[WorkspaceConversion]:
    return list(
        session.scalars(
            select(WorkspaceConversion)
            .where(WorkspaceConversion.workspace_id == workspace_id)
            .order_by(WorkspaceConversion.name)
        )
    )


def conversion(
    session: Session, workspace_id: uuid.UUID, conversion_id: uuid.UUID
) -> WorkspaceConversion | None:
    return session.scalar(
        select(WorkspaceConversion).where(
            WorkspaceConversion.workspace_id == workspace_id,
            WorkspaceConversion.id == conversion_id,
        )
    )


def conversion_named(
    session: Session, workspace_id: uuid.UUID, name: str
) -> WorkspaceConversion | None:
    return session.scalar(
        select(WorkspaceConversion).where(
            WorkspaceConversion.workspace_id == workspace_id, WorkspaceConversion.name == name
        )
    )


def seen_action_types(
    session: Session, workspace_id: uuid.UUID, since: datetime | None = None
) -> list[tuple[str, int, datetime]]:
    """(action type, ad-days with it, newest day) of the workspace's action facts."""
    rows = session.execute(
        text(
            "SELECT action_type, count(DISTINCT (entity_id, day)) AS ad_days, max(day) AS newest"
            " FROM action_facts WHERE workspace_id = :ws"
            " AND (CAST(:since AS date) IS NULL OR day >= CAST(:since AS date))"
            " GROUP BY action_type ORDER BY action_type"
        ),
        {"ws": workspace_id, "since": since},
    )
    return [(r[0], int(r[1]), r[2]) for r in rows]
