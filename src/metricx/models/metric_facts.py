from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
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
from sqlalchemy.types import TypeEngine

from metricx.facts import measures as registry
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
_TYPES: dict[str, TypeEngine[Any]] = {
    registry.MONEY_SQL: MONEY,
    registry.COUNT_SQL: COUNT,
    registry.INT_SQL: BigInteger(),
}


def measure_column(measure: registry.Measure, *, nullable: bool) -> Column[object]:
    """The column of one registry measure (facts and rollups)."""
    return Column(
        measure.name,
        _TYPES[measure.sql_type],
        nullable=nullable,
        server_default=None if nullable else "0",
    )


class MetricFact(Base):
    """One measured bucket (minute, hour or day) of one entity, starting at ``event_at`` (UTC).

    Partitioned by month on ``event_at``. The primary key is the natural key plus the partition
    key: a uuid5 of (workspace, provider, level, external id, granularity, UTC bucket start),
    computed by the fact writer (``metricx.ingest.keys.natural_key_for``), so the same fact
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
    currency: Mapped[str] = mapped_column(String(3))
    flags: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    import_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    fetch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    # ...and one column per registry measure (metricx.facts.measures), added below.


for _m in registry.all_measures():
    setattr(MetricFact, _m.name, measure_column(_m, nullable=_m.nullable))
