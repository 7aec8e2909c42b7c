from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    Granularity,
    Level,
    Provider,
    created_at,
    text_enum,
    updated_at,
)

MONEY = Numeric(18, 6)
COUNT = Numeric(18, 4)  # action counts: Meta reports them as decimal strings


class MetricFact(Base):
    """One measured bucket (minute, hour or day) of one entity, starting at ``event_at`` (UTC).

    Partitioned by month on ``event_at``. The primary key is the natural key plus the partition
    key: a uuid5 of (workspace, provider, level, external id, granularity, UTC bucket start),
    computed by the ingest service (``metricx.ingest.keys.natural_key_for``), so the same fact
    from the same source is one row and no two workspaces, providers, levels or granularities
    can collide. Only the ingest service writes here.
    """

    __tablename__ = "metric_facts"
    __table_args__ = (
        PrimaryKeyConstraint("natural_key", "event_at"),
        Index("ix_metric_facts_entity_id_event_at", "entity_id", "event_at"),
        Index("ix_metric_facts_workspace_id_event_at", "workspace_id", "event_at"),
        Index("ix_metric_facts_provider_event_at", "provider", "event_at"),
        Index("ix_metric_facts_event_at_brin", "event_at", postgresql_using="brin"),
        CheckConstraint(
            "spend >= 0 AND impressions >= 0 AND clicks >= 0", name="measures_not_negative"
        ),
        {"postgresql_partition_by": "RANGE (event_at)"},
    )

    natural_key: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    entity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    provider: Mapped[Provider] = mapped_column(text_enum(Provider, "provider"))
    level: Mapped[Level] = mapped_column(text_enum(Level, "level"))
    granularity: Mapped[Granularity] = mapped_column(text_enum(Granularity, "granularity"))
    spend: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    impressions: Mapped[int] = mapped_column(BigInteger, server_default="0")
    clicks: Mapped[int] = mapped_column(BigInteger, server_default="0")
    reach: Mapped[int | None] = mapped_column(BigInteger)
    conversions: Mapped[Decimal | None] = mapped_column(COUNT)
    leads: Mapped[Decimal | None] = mapped_column(COUNT)
    purchases: Mapped[Decimal | None] = mapped_column(COUNT)
    purchase_value: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    flags: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    import_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    fetch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


# Bits of MetricFact.flags: suspicious but possible data, stored and flagged, not rejected.
FLAG_CLICKS_OVER_IMPRESSIONS = 1
FLAG_SPEND_WITHOUT_IMPRESSIONS = 2
