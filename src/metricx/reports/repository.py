"""All SQL of scheduled reports: schedules (scoped by workspace), their deliveries, and the
names of the accounts the top campaigns belong to."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.orm import Session, aliased

from metricx.models import (
    Connection,
    Entity,
    NotificationChannel,
    ReportDelivery,
    ReportSchedule,
    Workspace,
)


def schedules_of(session: Session, workspace_id: uuid.UUID) -> list[ReportSchedule]:
    stmt = select(ReportSchedule).where(ReportSchedule.workspace_id == workspace_id)
    return list(
        session.scalars(
            stmt.order_by(ReportSchedule.created_at, ReportSchedule.name, ReportSchedule.id)
        )
    )


def schedule(
    session: Session, workspace_id: uuid.UUID, schedule_id: uuid.UUID
) -> ReportSchedule | None:
    return session.scalar(
        select(ReportSchedule).where(
            ReportSchedule.workspace_id == workspace_id, ReportSchedule.id == schedule_id
        )
    )


def enabled_schedules(
    session: Session,
) -> list[tuple[ReportSchedule, Workspace, NotificationChannel]]:
    """Every enabled schedule whose channel is enabled, with its workspace and channel."""
    stmt = (
        select(ReportSchedule, Workspace, NotificationChannel)
        .join(Workspace, Workspace.id == ReportSchedule.workspace_id)
        .join(
            NotificationChannel,
            (NotificationChannel.id == ReportSchedule.channel_id)
            & (NotificationChannel.workspace_id == ReportSchedule.workspace_id),
        )
        .where(ReportSchedule.enabled.is_(True), NotificationChannel.enabled.is_(True))
        .order_by(ReportSchedule.id)
    )
    return [(s, w, c) for s, w, c in session.execute(stmt)]


def add_delivery(
    session: Session, schedule: ReportSchedule, start: date, end: date
) -> uuid.UUID | None:
    """The period's delivery row, unless it exists (then None: it was handed before)."""
    return session.scalar(
        insert(ReportDelivery)
        .values(
            id=uuid.uuid4(),
            workspace_id=schedule.workspace_id,
            schedule_id=schedule.id,
            period_start=start,
            period_end=end,
            attempts=0,
        )
        .on_conflict_do_nothing(
            index_elements=[
                ReportDelivery.workspace_id,
                ReportDelivery.schedule_id,
                ReportDelivery.period_start,
                ReportDelivery.period_end,
            ]
        )
        .returning(ReportDelivery.id)
    )


def delivery_for_update(session: Session, delivery_id: uuid.UUID) -> ReportDelivery | None:
    return session.get(ReportDelivery, delivery_id, with_for_update=True)


def latest_deliveries(
    session: Session, workspace_id: uuid.UUID, schedule_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ReportDelivery]:
    """Each schedule's delivery of its latest period."""
    if not schedule_ids:
        return {}
    stmt = (
        select(ReportDelivery)
        .where(
            ReportDelivery.workspace_id == workspace_id,
            ReportDelivery.schedule_id.in_(schedule_ids),
        )
        .order_by(ReportDelivery.schedule_id, ReportDelivery.period_end.desc())
        .ext(distinct_on(ReportDelivery.schedule_id))
    )
    return {d.schedule_id: d for d in session.scalars(stmt)}


def account_names(
    session: Session, workspace_id: uuid.UUID, campaign_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Campaign id -> the name of its ad account (the account entity, else its connection)."""
    if not campaign_ids:
        return {}
    account = aliased(Entity)
    stmt = (
        select(Entity.id, account.name, Connection.name)
        .outerjoin(
            account,
            (account.id == Entity.parent_id) & (account.workspace_id == workspace_id),
        )
        .outerjoin(
            Connection,
            (Connection.id == Entity.connection_id) & (Connection.workspace_id == workspace_id),
        )
        .where(Entity.workspace_id == workspace_id, Entity.id.in_(campaign_ids))
    )
    return {cid: a or c or "" for cid, a, c in session.execute(stmt)}
