"""Meta's custom conversions of each ad account, synced with the entities."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Numeric,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import Base, tenant_fk, updated_at


class CustomConversion(Base):
    """A Meta custom conversion (``act_X/customconversions``); it fires in insights as the
    action type ``offsite_conversion.custom.<external_id>``."""

    __tablename__ = "custom_conversions"
    __table_args__ = (tenant_fk("custom_conversions", "connection_id", "connections", "SET NULL"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    account_external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(500))
    custom_event_type: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(Text)
    is_archived: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    is_unavailable: Mapped[bool] = mapped_column(Boolean, server_default="false", default=False)
    default_conversion_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    creation_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = updated_at()
