"""Scheduled reports: a workspace's daily or weekly summary sent through one of its
notification channels, and one delivery row per schedule and period."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    StrEnum,
    created_at,
    tenant_fk,
    tenant_id,
    tenant_mapper_args,
    tenant_pk,
    text_enum,
    updated_at,
)


class ReportFrequency(StrEnum):
    DAILY = "daily"  # yesterday against the day before
    WEEKLY = "weekly"  # the last 7 days against the 7 before


class ReportSchedule(Base):
    """When a workspace's report goes out: every day (or every ``weekday``, 0 = Monday) once
    ``hour`` has passed in the workspace's time zone, to ``channel_id``."""

    __tablename__ = "report_schedules"
    __table_args__ = (
        CheckConstraint("hour BETWEEN 0 AND 23", name="hour"),
        CheckConstraint(
            "(frequency = 'weekly') = (weekday IS NOT NULL) "
            "AND coalesce(weekday, 0) BETWEEN 0 AND 6",
            name="weekday",
        ),
        tenant_pk(),
        tenant_fk("report_schedules", "channel_id", "notification_channels", "CASCADE"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    frequency: Mapped[ReportFrequency] = mapped_column(
        text_enum(ReportFrequency, "report_frequency")
    )
    weekday: Mapped[int | None] = mapped_column(SmallInteger)
    hour: Mapped[int] = mapped_column(SmallInteger)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true", default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ReportDelivery(Base):
    """One period's report of one schedule: the unique key makes it at most one, the send
    job's retries make it at least one. ``last_error`` never holds a secret."""

    __tablename__ = "report_deliveries"
    __table_args__ = (
        tenant_pk(),
        UniqueConstraint(
            "workspace_id",
            "schedule_id",
            "period_start",
            "period_end",
            name="uq_report_deliveries_workspace_schedule_period",
        ),
        tenant_fk("report_deliveries", "schedule_id", "report_schedules", "CASCADE"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    schedule_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
