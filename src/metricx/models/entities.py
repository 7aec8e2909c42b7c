from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    Level,
    Provider,
    created_at,
    text_enum,
    updated_at,
    uuid_pk,
)


class Entity(Base):
    """An account, campaign, ad set or ad, as the provider knows it (``external_id``)."""

    __tablename__ = "entities"
    __table_args__ = (UniqueConstraint("workspace_id", "provider", "level", "external_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL"), index=True
    )
    provider: Mapped[Provider] = mapped_column(text_enum(Provider, "provider"))
    level: Mapped[Level] = mapped_column(text_enum(Level, "level"))
    external_id: Mapped[str] = mapped_column(String(128))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("entities.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(32))
    effective_status: Mapped[str | None] = mapped_column(String(32))
    objective: Mapped[str | None] = mapped_column(String(64))
    goal: Mapped[str | None] = mapped_column(String(32))
    created_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the provider stopped returning the entity; it stays, with its history.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
