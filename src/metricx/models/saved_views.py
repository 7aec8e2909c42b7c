"""A workspace's saved dashboard views: a name and the dashboard's question as its URL query."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import Base, created_at, tenant_id, tenant_mapper_args, tenant_pk


class SavedView(Base):
    """A named dashboard view: ``query`` is the page's canonical query string (range,
    level, filters, columns...), as the page itself writes it."""

    __tablename__ = "saved_views"
    __table_args__ = (tenant_pk(), UniqueConstraint("workspace_id", "name"))
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(4000))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()
