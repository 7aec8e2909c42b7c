"""All SQL of alerts: one open row per (workspace, kind, key), counted up while it recurs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from metricx.models import Alert, Severity


def upsert_open(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    kind: str,
    key: str,
    severity: Severity,
    message: str,
    details: dict[str, Any] | None,
    connection_id: uuid.UUID | None,
) -> Alert:
    """Insert the open alert, or count one more occurrence of it, in one statement (safe when
    two processes raise it at once: the partial unique index decides)."""
    stmt = insert(Alert).values(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        connection_id=connection_id,
        kind=kind,
        key=key,
        severity=severity,
        message=message,
        details=details,
        count=1,
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[Alert.workspace_id, Alert.kind, Alert.key],
        index_where=Alert.resolved_at.is_(None),
        set_={
            "count": Alert.count + 1,
            "last_seen_at": func.now(),
            "severity": stmt.excluded.severity,
            "message": stmt.excluded.message,
            "details": stmt.excluded.details,
        },
    ).returning(Alert)
    alert = session.scalars(upsert, execution_options={"populate_existing": True}).one()
    return alert


def open_alert(session: Session, workspace_id: uuid.UUID, kind: str, key: str) -> Alert | None:
    return session.scalar(
        select(Alert).where(
            Alert.workspace_id == workspace_id,
            Alert.kind == kind,
            Alert.key == key,
            Alert.resolved_at.is_(None),
        )
    )


def open_of_kind(session: Session, kind: str) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.kind == kind, Alert.resolved_at.is_(None))
            .order_by(Alert.first_seen_at)
        )
    )


def alert_by_id(session: Session, workspace_id: uuid.UUID, alert_id: uuid.UUID) -> Alert | None:
    return session.scalar(
        select(Alert).where(Alert.workspace_id == workspace_id, Alert.id == alert_id)
    )


def alerts_of(
    session: Session,
    workspace_id: uuid.UUID,
    *,
    kind: str | None,
    include_resolved: bool,
    limit: int,
) -> list[Alert]:
    stmt = select(Alert).where(Alert.workspace_id == workspace_id)
    if kind is not None:
        stmt = stmt.where(Alert.kind == kind)
    if not include_resolved:
        stmt = stmt.where(Alert.resolved_at.is_(None))
    return list(session.scalars(stmt.order_by(Alert.last_seen_at.desc()).limit(limit)))


def mark_resolved(alert: Alert, when: datetime) -> None:
    alert.resolved_at = when
