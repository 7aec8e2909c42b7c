from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    StrEnum,
    tenant_fk,
    tenant_id,
    tenant_mapper_args,
    tenant_pk,
    text_enum,
)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Alert(Base):
    """A condition worth a human's attention; one open row per (workspace, kind, key)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_open_workspace_id_kind_key",
            "workspace_id",
            "kind",
            "key",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
        ),
        tenant_pk(),
        tenant_fk("alerts", "connection_id", "connections", "CASCADE"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200), server_default="", default="")
    severity: Mapped[Severity] = mapped_column(text_enum(Severity, "severity"))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    count: Mapped[int] = mapped_column(Integer, server_default="1", default=1)
    first_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The notification outbox: set once the raise (resp. the resolve) was handed to the
    # workspace's channels (or there were none), so each is sent once.
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
