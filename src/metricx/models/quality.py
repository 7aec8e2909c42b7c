"""Data-quality findings, and the hierarchy snapshot that lets validation see entities move."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.alerts import Severity
from metricx.models.base import (
    Base,
    tenant_fk,
    tenant_id,
    tenant_mapper_args,
    tenant_pk,
    text_enum,
)


class QualityFinding(Base):
    """One discrepancy a validation found: which entity, which period, which numbers. One open
    row per (workspace, dedupe_key); a later run that no longer finds it resolves it."""

    __tablename__ = "quality_findings"
    __table_args__ = (
        Index(
            "uq_quality_findings_open_workspace_id_dedupe_key",
            "workspace_id",
            "dedupe_key",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_quality_findings_workspace_id_last_seen_at", "workspace_id", "last_seen_at"),
        Index("ix_quality_findings_connection_id_kind", "connection_id", "kind"),
        tenant_pk(),
        tenant_fk("quality_findings", "connection_id", "connections", "CASCADE"),
        tenant_fk("quality_findings", "entity_id", "entities", "CASCADE"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(48))
    severity: Mapped[Severity] = mapped_column(text_enum(Severity, "severity"))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    level: Mapped[str | None] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(128))
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    numbers: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", default=dict)
    message: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(300))
    seen_count: Mapped[int] = mapped_column(Integer, server_default="1", default=1)
    first_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EntityParentSnapshot(Base):
    """The parent each entity had when validation last looked, and the last move it saw: the
    entity table keeps only the current parent."""

    __tablename__ = "quality_entity_parents"
    __table_args__ = (
        PrimaryKeyConstraint("entity_id", "workspace_id"),
        tenant_fk("quality_entity_parents", "entity_id", "entities", "CASCADE"),
    )
    __mapper_args__ = {"primary_key": ["entity_id"]}

    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    previous_parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    moved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
