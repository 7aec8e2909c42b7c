from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
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


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"  # Slack-compatible incoming webhook: POST {"text": ...}
    EMAIL = "email"  # SMTP


class NotificationChannel(Base):
    """Where a workspace's alerts are sent. ``config`` holds what is not secret (SMTP host,
    port, user, sender, recipients); ``secret_enc`` the webhook URL or the SMTP password,
    encrypted with the runtime cipher."""

    __tablename__ = "notification_channels"
    __table_args__ = (tenant_pk(),)
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ChannelKind] = mapped_column(text_enum(ChannelKind, "channel_kind"))
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true", default=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    def __repr__(self) -> str:
        return f"NotificationChannel(id={self.id}, kind={self.kind}, secret=***)"


class DeliveryEvent(StrEnum):
    RAISED = "raised"
    RESOLVED = "resolved"


class NotificationDelivery(Base):
    """One message of one alert event to one channel: the unique key makes it at most one,
    the send job's retries make it at least one."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        tenant_pk(),
        UniqueConstraint(
            "workspace_id",
            "alert_id",
            "channel_id",
            "event",
            name="uq_notification_deliveries_workspace_alert_channel_event",
        ),
        tenant_fk("notification_deliveries", "alert_id", "alerts", "CASCADE"),
        tenant_fk("notification_deliveries", "channel_id", "notification_channels", "CASCADE"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    alert_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    channel_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    event: Mapped[DeliveryEvent] = mapped_column(text_enum(DeliveryEvent, "delivery_event"))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
