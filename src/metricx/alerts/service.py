"""Alerts: raise (deduplicated and counted), list, resolve. Any domain uses it: ingest
failures, sync errors, data-quality checks. Takes the session, flushes, never commits.

The dependency goes one way: each domain raises and clears the alerts it owns through
``raise_alert``, ``resolve_alert`` and (for periodic sweeps) ``open_alerts``; this package
imports no domain's code."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from metricx.alerts import repository
from metricx.errors import NotFound
from metricx.models import Alert, Severity


def raise_alert(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    kind: str,
    message: str,
    key: str = "",
    severity: Severity = Severity.WARNING,
    details: dict[str, Any] | None = None,
    connection_id: uuid.UUID | None = None,
) -> Alert:
    """The open alert of (workspace, kind, key): created, or its count and last_seen_at bumped
    with the newest message and details."""
    session.flush()
    return repository.upsert_open(
        session,
        workspace_id=workspace_id,
        kind=kind,
        key=key,
        severity=severity,
        message=message,
        details=details,
        connection_id=connection_id,
    )


def open_alert(
    session: Session, *, workspace_id: uuid.UUID, kind: str, key: str = ""
) -> Alert | None:
    return repository.open_alert(session, workspace_id, kind, key)


def list_alerts(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    kind: str | None = None,
    include_resolved: bool = False,
    limit: int = 100,
) -> list[Alert]:
    return repository.alerts_of(
        session, workspace_id, kind=kind, include_resolved=include_resolved, limit=limit
    )


def open_alerts(session: Session, *, kind: str) -> list[Alert]:
    """Every open alert of ``kind``, in all workspaces: what a domain's sweep looks over to
    clear the alerts whose cause is gone."""
    return repository.open_of_kind(session, kind)


def resolve_alert(
    session: Session, *, workspace_id: uuid.UUID, kind: str, key: str = ""
) -> Alert | None:
    """Close the open alert, if any; the next occurrence opens a new row."""
    alert = repository.open_alert(session, workspace_id, kind, key)
    if alert is not None:
        repository.mark_resolved(alert, datetime.now(UTC))
        session.flush()
    return alert


def resolve_by_id(session: Session, *, workspace_id: uuid.UUID, alert_id: uuid.UUID) -> Alert:
    """A person closes an alert. If its condition still holds, the next evaluation opens a new
    one (and notifies again)."""
    alert = repository.alert_by_id(session, workspace_id, alert_id)
    if alert is None:
        raise NotFound("no such alert")
    if alert.resolved_at is None:
        repository.mark_resolved(alert, datetime.now(UTC))
        session.flush()
    return alert
