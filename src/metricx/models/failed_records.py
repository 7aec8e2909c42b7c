from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    StrEnum,
    created_at,
    tenant_fk,
    tenant_id,
    tenant_mapper_args,
    tenant_pk,
    text_enum,
)


class FailedRecordStatus(StrEnum):
    PENDING = "pending"
    REPLAYED = "replayed"
    DISCARDED = "discarded"


class FailedRecord(Base):
    """The dead-letter store: a record an import refused, with why, replayable after a fix."""

    __tablename__ = "failed_records"
    __table_args__ = (
        Index("ix_failed_records_workspace_id_status", "workspace_id", "status"),
        tenant_pk(),
        tenant_fk("failed_records", "import_id", "imports", "CASCADE"),
        tenant_fk("failed_records", "replayed_import_id", "imports", "SET NULL"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    import_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    record_index: Mapped[int] = mapped_column(Integer)
    payload: Mapped[Any] = mapped_column(JSONB)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    status: Mapped[FailedRecordStatus] = mapped_column(
        text_enum(FailedRecordStatus, "failed_record_status"), default=FailedRecordStatus.PENDING
    )
    replayed_import_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created_at()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
