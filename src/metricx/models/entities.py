from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    Level,
    Provider,
    created_at,
    tenant_fk,
    tenant_id,
    tenant_mapper_args,
    tenant_pk,
    text_enum,
    updated_at,
)


class Entity(Base):
    """An account, campaign, ad set or ad, as the provider knows it (``external_id``)."""

    __tablename__ = "entities"
    __table_args__ = (
        tenant_pk(),
        UniqueConstraint("workspace_id", "provider", "level", "external_id"),
        tenant_fk("entities", "connection_id", "connections", "SET NULL"),
        tenant_fk("entities", "parent_id", "entities", "SET NULL"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    provider: Mapped[Provider] = mapped_column(text_enum(Provider, "provider"))
    level: Mapped[Level] = mapped_column(text_enum(Level, "level"))
    external_id: Mapped[str] = mapped_column(String(128))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    name: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(32))
    effective_status: Mapped[str | None] = mapped_column(String(32))
    objective: Mapped[str | None] = mapped_column(String(64))
    goal: Mapped[str | None] = mapped_column(String(32))
    created_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Ad sets only: what Meta optimizes for, the object it promotes (pixel and event, custom
    # conversion, page...), the attribution setting (window tokens sorted, comma-separated:
    # "1d_view,7d_click") and the result that follows from them ("actions:link_click",
    # "reach"; None where the goal has no known result).
    optimization_goal: Mapped[str | None] = mapped_column(String(64))
    promoted_object: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    attribution_setting: Mapped[str | None] = mapped_column(String(128))
    result_type: Mapped[str | None] = mapped_column(String(200))
    # Set when the provider stopped returning the entity; it stays, with its history.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
