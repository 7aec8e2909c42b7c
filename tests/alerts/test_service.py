"""The generic alert service: raise, deduplicate and count, resolve, raise anew."""

from __future__ import annotations

from sqlalchemy.orm import Session

from metricx.alerts import service
from metricx.models import Severity
from tests.factories import make_workspace


def test_raise_deduplicates_counts_and_resolves(db: Session) -> None:
    ws = make_workspace(db)
    first = service.raise_alert(
        db,
        workspace_id=ws.id,
        kind="sync_error",
        key="conn-1",
        message="first",
        severity=Severity.WARNING,
    )
    again = service.raise_alert(
        db,
        workspace_id=ws.id,
        kind="sync_error",
        key="conn-1",
        message="second",
        severity=Severity.CRITICAL,
    )
    assert again.id == first.id and again.count == 2
    assert (again.message, again.severity) == ("second", Severity.CRITICAL)
    other_key = service.raise_alert(
        db, workspace_id=ws.id, kind="sync_error", key="conn-2", message="x"
    )
    assert other_key.id != first.id
    assert len(service.list_alerts(db, workspace_id=ws.id)) == 2
    resolved = service.resolve_alert(db, workspace_id=ws.id, kind="sync_error", key="conn-1")
    assert resolved is not None and resolved.resolved_at is not None
    fresh = service.raise_alert(
        db, workspace_id=ws.id, kind="sync_error", key="conn-1", message="back"
    )
    assert fresh.id != first.id and fresh.count == 1
    assert service.open_alert(db, workspace_id=ws.id, kind="sync_error", key="conn-1") == fresh
