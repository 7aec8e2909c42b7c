from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Integer, PrimaryKeyConstraint, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.facts import measures as registry
from metricx.models.base import Base
from metricx.models.metric_facts import measure_column


class MetricRollup(Base):
    """Facts pre-summed at the grains dashboards read: per workspace and per account,
    campaign and ad set, per fact bucket (hour or day, and their local weeks), currency, source
    fact level, provider (two providers' facts are never one row) and account time zone (so
    each account's facts keep their own calendar days).

    Maintained incrementally by the ingest merge (a revision adds its delta; nothing is
    recomputed). ``level = 'workspace'`` rows carry the workspace id as ``entity_id``.
    ``facts`` counts contributing facts and ``conversions_n`` those that reported any measure of
    the reporting group (``registry.reported()``: conversions, leads, purchases, purchase
    value), so a sum of "not reported" stays distinguishable from a reported zero.
    """

    __tablename__ = "metric_rollups"
    __table_args__ = (
        PrimaryKeyConstraint(
            "workspace_id",
            "granularity",
            "level",
            "event_at",
            "entity_id",
            "currency",
            "fact_level",
            "provider",
            "zone",
        ),
        # The chosen entities' rows of a range (a top-N series): the primary key orders by
        # time first, so reading 20 ad sets' days of a quarter would scan all 400's.
        Index(
            "ix_metric_rollups_entity",
            "workspace_id",
            "level",
            "granularity",
            "entity_id",
            "event_at",
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    granularity: Mapped[str] = mapped_column(String(8))
    level: Mapped[str] = mapped_column(String(16))
    event_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    currency: Mapped[str] = mapped_column(String(3))
    fact_level: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(16))
    # The account's time zone and the bucket's local date in it: days, weeks and months are
    # each account's own calendar days (``day`` follows from ``event_at`` and ``zone``).
    zone: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    facts: Mapped[int] = mapped_column(Integer, server_default="0")
    conversions_n: Mapped[int] = mapped_column(Integer, server_default="0")
    # ...and one column per rolled-up registry measure (metricx.facts.measures), added below.


for _m in registry.rolled():
    setattr(MetricRollup, _m.name, measure_column(_m, nullable=False))
