from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    StrEnum,
    created_at,
    tenant_id,
    tenant_mapper_args,
    tenant_pk,
    text_enum,
    uuid_pk,
)


class Workspace(Base):
    """A tenant: its members, connections, entities and facts. ``timezone`` shows hours (days
    are each ad account's own); ``week_start`` starts week buckets."""

    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC", default="UTC")
    # The first day of a week bucket (a weekday name, as WEEKDAYS in metrics/calendar.py).
    week_start: Mapped[str] = mapped_column(String(9), server_default="monday", default="monday")
    # The currency totals, tiles, chart and sort convert to (ISO 4217); None: per currency.
    reporting_currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = created_at()


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (tenant_pk(), UniqueConstraint("workspace_id", "user_id"))
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(text_enum(Role, "role"), default=Role.MEMBER)
    created_at: Mapped[datetime] = created_at()
