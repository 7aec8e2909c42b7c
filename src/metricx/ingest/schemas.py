"""The ingest API's shapes. Records themselves are parsed by ``records.parse_record`` (fast,
with a field and reason per problem); ``MetricFactCreate`` documents them in OpenAPI."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from metricx.facts import measures as registry
from metricx.models import FailedRecordStatus, ImportStatus
from metricx.models.base import Granularity, Level, Provider


class _FactCreateBase(BaseModel):
    """One fact. The entity: ``entity_id``, or ``external_entity_id`` + ``provider`` + ``level``
    (found, or created in the workspace). The time: ``event_at`` with a UTC offset, or
    ``event_date`` + ``hour`` (+ ``minute``) in the account's time zone."""

    entity_id: uuid.UUID | None = None
    external_entity_id: str | None = Field(default=None, max_length=128)
    provider: Provider | None = None
    level: Level | None = None
    granularity: Granularity
    event_at: datetime | None = Field(default=None, description="With a UTC offset.")
    event_date: date | None = None
    hour: int | None = Field(default=None, ge=0, le=23)
    minute: int | None = Field(default=None, ge=0, le=59)
    fold: Literal[0, 1] | None = Field(
        default=None, description="On the repeated hour of a DST change: 0 first, 1 second."
    )
    utc_offset: str | None = Field(default=None, examples=["-04:00", "+05:30"])
    currency: str | None = Field(default=None, description="ISO 4217; default: the account's.")


def _measure_field(m: registry.Measure) -> tuple[Any, Any]:
    kind: Any = int if m.whole else Decimal
    if m.nullable:
        return (kind | None, Field(default=None, description=m.description or m.label))
    return (kind, Field(default=0, description=m.description or m.label))


if TYPE_CHECKING:
    MetricFactCreate = _FactCreateBase
else:
    # One field per registry measure (metricx.facts.measures).
    MetricFactCreate = create_model(
        "MetricFactCreate",
        __base__=_FactCreateBase,
        __doc__=_FactCreateBase.__doc__,
        **{m.name: _measure_field(m) for m in registry.all_measures()},
    )


class IngestRequest(BaseModel):
    records: list[MetricFactCreate]


class RecordProblem(BaseModel):
    index: int
    field: str
    reason: str
    code: str = "invalid"


class IngestResponse(BaseModel):
    import_id: uuid.UUID
    status: ImportStatus
    inserted: int
    updated: int
    unchanged: int
    failed: int
    duplicates: int
    entities_created: int
    flagged: int
    errors: list[RecordProblem]
    errors_omitted: int = 0
    failed_not_stored: int = Field(
        default=0,
        description="Failed records counted in `failed` but not kept as failed records: past "
        "the import's or the workspace's daily quota of stored failures.",
    )
    failed_not_stored_limit: str | None = Field(
        default=None,
        description="The quota that held them back: ingest_max_failed_records_per_import or "
        "ingest_max_failed_records_per_day.",
    )


class ImportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source: str
    status: ImportStatus
    connection_id: uuid.UUID | None
    fetch_id: uuid.UUID | None
    idempotency_key: str | None
    received: int
    inserted: int
    updated: int
    unchanged: int
    failed: int
    duration_ms: int | None
    created_at: datetime
    finished_at: datetime | None


class FailedRecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    import_id: uuid.UUID
    record_index: int
    payload: Any
    errors: list[dict[str, Any]]
    status: FailedRecordStatus
    replayed_import_id: uuid.UUID | None
    created_at: datetime
    resolved_at: datetime | None


class ReplayRequest(BaseModel):
    """The corrected record; omit it to replay the stored payload as it is."""

    record: dict[str, Any] | None = None


class ReplayResponse(BaseModel):
    failed_record: FailedRecordRead
    result: IngestResponse
