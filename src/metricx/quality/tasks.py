"""Validation jobs: one connection (after each sync), and the periodic pass over all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from metricx.db import unit_of_work
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger
from metricx.models import Connection, ConnectionStatus
from metricx.quality import service

log = get_logger("metricx.quality")


def validate_connection(connection_id: str) -> dict[str, int] | None:
    """Validate one connection's recent days (queued after each successful sync); ends
    quietly when the connection is gone."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        connection = session.get(Connection, uuid.UUID(connection_id))
        if connection is None:
            return None
        meta = service.meta_totals_for(
            session, settings=runtime.settings, cipher=runtime.cipher, connection=connection
        )
        result = service.validate_connection(
            session, settings=runtime.settings, connection=connection, meta=meta
        )
        return {"findings": len(result.findings), "new": result.new, "resolved": result.resolved}


def validate_all_connections(timestamp: int) -> dict[str, int]:
    """Periodic: queue a validation of every active connection (one job each)."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        connections = session.scalars(
            select(Connection).where(Connection.status == ConnectionStatus.ACTIVE)
        ).all()
        for connection in connections:
            service.request_validation(session, connection=connection)
    log.info(
        "validations queued",
        scheduled_at=timestamp,
        connections=len(connections),
        at=datetime.now(UTC).isoformat(),
    )
    return {"queued": len(connections)}
