"""Connection jobs: thin, ids in, a service call in its own unit of work."""

from __future__ import annotations

import uuid

from metricx.connections import service
from metricx.connections.entity_sync import run_entity_sync
from metricx.db import unit_of_work
from metricx.jobs.context import current_runtime
from metricx.logging import get_logger
from metricx.models import Fetch, RunStatus

log = get_logger("metricx.connections")


def sync_connection_entities(fetch_id: str) -> str | None:
    """Run the queued entity sync ``fetch_id``; ends quietly when it is gone or already ran."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        fetch = session.get(Fetch, uuid.UUID(fetch_id), with_for_update=True)
        if fetch is None or fetch.status != RunStatus.QUEUED:
            return None
        run_entity_sync(session, settings=runtime.settings, cipher=runtime.cipher, fetch=fetch)
        return fetch.status.value


def check_meta_tokens(timestamp: int) -> dict[str, int]:
    """Check every token in use (periodic): expiry alerts, invalid tokens -> needs_reauth."""
    runtime = current_runtime()
    with unit_of_work(runtime.sessions) as session:
        summary = service.check_tokens(session, settings=runtime.settings, cipher=runtime.cipher)
    log.info("meta tokens checked", scheduled_at=timestamp, **summary)
    return summary
