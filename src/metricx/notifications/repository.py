"""All SQL of notifications: channels (scoped by workspace), deliveries, the alert outbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from metricx.models import (
    Alert,
    DeliveryEvent,
    NotificationChannel,
    NotificationDelivery,
)


def channels_of(
    session: Session, workspace_id: uuid.UUID, *, enabled_only: bool = False
) -> list[NotificationChannel]:
    stmt = select(NotificationChannel).where(NotificationChannel.workspace_id == workspace_id)
    if enabled_only:
        stmt = stmt.where(NotificationChannel.enabled.is_(True))
    return list(session.scalars(stmt.order_by(NotificationChannel.created_at)))


def channel(
    session: Session, workspace_id: uuid.UUID, channel_id: uuid.UUID
) -> NotificationChannel | None:
    return session.scalar(
        select(NotificationChannel).where(
            NotificationChannel.workspace_id == workspace_id, NotificationChannel.id == channel_id
        )
    )


def all_channels(session: Session) -> list[NotificationChannel]:
    """Every channel (the doctor checks each secret opens)."""
    return list(session.scalars(select(NotificationChannel)))


def unsent_events(session: Session, batch: int) -> list[tuple[Alert, DeliveryEvent]]:
    """Alerts whose opening or resolving has not been handed to the channels yet, locked so
    two dispatchers never hand the same one."""
    raised = select(Alert).where(Alert.notified_at.is_(None))
    resolved = select(Alert).where(
        Alert.resolved_at.is_not(None), Alert.resolve_notified_at.is_(None)
    )
    out: list[tuple[Alert, DeliveryEvent]] = []
    for stmt, event in ((raised, DeliveryEvent.RAISED), (resolved, DeliveryEvent.RESOLVED)):
        rows = session.scalars(
            stmt.order_by(Alert.first_seen_at).limit(batch).with_for_update(skip_locked=True)
        )
        out += [(a, event) for a in rows]
    return out


def add_delivery(
    session: Session, alert: Alert, channel_id: uuid.UUID, event: DeliveryEvent
) -> uuid.UUID | None:
    """The delivery row, unless it exists (then None: it was handed before)."""
    assert alert.workspace_id is not None
    return session.scalar(
        insert(NotificationDelivery)
        .values(
            id=uuid.uuid4(),
            workspace_id=alert.workspace_id,
            alert_id=alert.id,
            channel_id=channel_id,
            event=event,
            attempts=0,
        )
        .on_conflict_do_nothing(
            index_elements=[
                NotificationDelivery.workspace_id,
                NotificationDelivery.alert_id,
                NotificationDelivery.channel_id,
                NotificationDelivery.event,
            ]
        )
        .returning(NotificationDelivery.id)
    )


def delivery_for_update(session: Session, delivery_id: uuid.UUID) -> NotificationDelivery | None:
    return session.get(NotificationDelivery, delivery_id, with_for_update=True)


def mark_handed(alert: Alert, event: DeliveryEvent, when: datetime) -> None:
    if event is DeliveryEvent.RAISED:
        alert.notified_at = when
    else:
        alert.resolve_notified_at = when
