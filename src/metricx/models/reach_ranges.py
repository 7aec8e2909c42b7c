"""Meta's deduplicated reach of an account, campaign or ad set over a range of days."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import Base, tenant_fk


class ReachRange(Base):
    """Reach and impressions Meta answered for exactly [since, until] (the account's local
    dates) at the entity's level. Reach is never summed across days or entities: a range's
    figure is asked of Meta for that range. The account's own row also marks the range as
    fetched for every campaign and ad set of it (an entity Meta sent no row for had none)."""

    __tablename__ = "reach_ranges"
    __table_args__ = (
        Index("ix_reach_ranges_workspace_id_fetched_at", "workspace_id", "fetched_at"),
        tenant_fk("reach_ranges", "entity_id", "entities", "CASCADE"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    since: Mapped[date] = mapped_column(Date, primary_key=True)
    until: Mapped[date] = mapped_column(Date, primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    reach: Mapped[int] = mapped_column(BigInteger)
    impressions: Mapped[int] = mapped_column(BigInteger)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
