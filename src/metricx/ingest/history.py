"""Imports and the dead-letter store, read back; a failed record replayed after a fix."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.errors import Conflict, NotFound
from metricx.ingest import repository
from metricx.ingest.records import parse_items
from metricx.ingest.service import Ingestion, IngestResult
from metricx.models import FailedRecord, FailedRecordStatus, Import, ImportStatus


def list_imports(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    status: ImportStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Import]:
    return repository.imports_of(session, workspace_id, status=status, limit=limit, offset=offset)


def get_import(session: Session, *, workspace_id: uuid.UUID, import_id: uuid.UUID) -> Import:
    found = repository.import_in(session, workspace_id, import_id)
    if found is None:
        raise NotFound("no such import")
    return found


def list_failed_records(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    status: FailedRecordStatus | None = None,
    import_id: uuid.UUID | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[FailedRecord]:
    return repository.failed_records_of(
        session, workspace_id, status=status, import_id=import_id, limit=limit, offset=offset
    )


def replay_failed_record(
    session: Session,
    *,
    settings: Settings,
    workspace_id: uuid.UUID,
    record_id: uuid.UUID,
    record: dict[str, Any] | None = None,
) -> tuple[FailedRecord, IngestResult]:
    """Ingest the corrected ``record`` (or the stored payload) as a new import of one record,
    under the original import's connection. Success marks the failed record replayed; a
    failure keeps it pending with the new errors (no second dead letter)."""
    failed = repository.failed_record_in(session, workspace_id, record_id)
    if failed is None:
        raise NotFound("no such failed record")
    if failed.status is not FailedRecordStatus.PENDING:
        raise Conflict(f"this failed record is already {failed.status.value}")
    original = repository.import_in(session, workspace_id, failed.import_id)
    ingestion = Ingestion(
        session,
        settings=settings,
        workspace_id=workspace_id,
        source="replay",
        connection_id=original.connection_id if original else None,
        dead_letter=False,
    )
    ingestion.add(parse_items([failed.payload if record is None else record], 0))
    result = ingestion.finish()
    if result.failed == 0:
        failed.status = FailedRecordStatus.REPLAYED
        failed.replayed_import_id = result.import_id
        failed.resolved_at = datetime.now(UTC)
    else:
        failed.errors = [{**e, "index": failed.record_index} for e in result.errors]
    session.flush()
    return failed, result
