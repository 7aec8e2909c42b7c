from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, text
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


class ImportStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"


class Import(Base):
    """One call of the ingest service: what it received and what became of it."""

    __tablename__ = "imports"
    __table_args__ = (
        Index(
            "uq_imports_workspace_id_idempotency_key",
            "workspace_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("ix_imports_workspace_id_created_at", "workspace_id", "created_at"),
        tenant_pk(),
        tenant_fk("imports", "connection_id", "connections", "SET NULL"),
        tenant_fk("imports", "fetch_id", "fetches", "SET NULL"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    fetch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # sha256 of the request (body after gunzip, and its connection): a retry with the same
    # Idempotency-Key must be the same request.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[ImportStatus] = mapped_column(
        text_enum(ImportStatus, "import_status"), default=ImportStatus.RUNNING
    )
    received: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    inserted: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    updated: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    unchanged: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    failed: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
