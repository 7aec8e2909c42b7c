from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    Provider,
    StrEnum,
    created_at,
    tenant_fk,
    tenant_id,
    tenant_mapper_args,
    tenant_pk,
    text_enum,
    updated_at,
)


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    PAUSED = "paused"
    DISCONNECTED = "disconnected"
    ERROR = "error"


class Connection(Base):
    """One linked ad account in a workspace."""

    __tablename__ = "connections"
    __table_args__ = (
        tenant_pk(),
        UniqueConstraint("workspace_id", "provider", "external_account_id"),
        tenant_fk("connections", "token_id", "tokens", "SET NULL"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[Provider] = mapped_column(text_enum(Provider, "provider"))
    external_account_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    account_status: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[ConnectionStatus] = mapped_column(
        text_enum(ConnectionStatus, "connection_status"), default=ConnectionStatus.ACTIVE
    )
    token_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    sync_enabled: Mapped[bool] = mapped_column(Boolean, server_default="true", default=True)
    sync_interval_minutes: Mapped[int] = mapped_column(Integer, server_default="60", default=60)
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The breakdown sets this account's sync fetches (metricx.facts.breakdowns.BREAKDOWN_SETS):
    # None means the defaults, [] none.
    breakdown_sets: Mapped[list[str] | None] = mapped_column(ARRAY(String(32)))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
