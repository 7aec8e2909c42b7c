"""A workspace's own named conversions: a set of action types and custom conversions, and
where their value comes from."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    ForeignKey,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    created_at,
    tenant_id,
    tenant_mapper_args,
    tenant_pk,
    updated_at,
)

VALUE_SOURCES = ("action_values", "none", "fixed")


class WorkspaceConversion(Base):
    """A workspace's named conversion: the action types and custom conversions it counts and
    where its value comes from (Meta's action values, none, or a fixed value per conversion)."""

    __tablename__ = "workspace_conversions"
    __table_args__ = (
        tenant_pk(),
        UniqueConstraint("workspace_id", "name"),
        CheckConstraint(
            "value_source IN ('action_values', 'none', 'fixed')", name="value_source_known"
        ),
        CheckConstraint(
            "(value_source = 'fixed') = (fixed_value IS NOT NULL)", name="fixed_value_when_fixed"
        ),
    )

    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    action_types: Mapped[list[str]] = mapped_column(
        ARRAY(String(200)), server_default="{}", default=list
    )
    custom_conversion_ids: Mapped[list[str]] = mapped_column(
        ARRAY(String(64)), server_default="{}", default=list
    )
    value_source: Mapped[str] = mapped_column(String(16), server_default="action_values")
    fixed_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
