from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
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


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Fetch(Base):
    """One pull from a provider's API: its window, calls, rows, checkpoint and outcome."""

    __tablename__ = "fetches"
    __table_args__ = (
        Index("ix_fetches_connection_id_kind_status", "connection_id", "kind", "status"),
        tenant_pk(),
        tenant_fk("fetches", "connection_id", "connections", "CASCADE"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[RunStatus] = mapped_column(
        text_enum(RunStatus, "run_status"), default=RunStatus.QUEUED
    )
    calls: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    rows: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Metrics syncs: async report jobs used, facts Meta revised (updated in place), run time.
    async_jobs: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    revised: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
