"""Report schedules (create, list, delete), the periodic hand-over of due reports (one
delivery row + one send job per schedule and period) and the send itself.

At most once per schedule and period: the delivery row is unique per (schedule, period), so
the periodic job may run twice, or on two workers at once, and hand each period once. At
least once: the send job retries (``notifications.service.attempt``) until it succeeds or
``notification_max_attempts`` is reached. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from metricx.config import Settings
from metricx.errors import InvalidInput, NotFound, UpstreamError
from metricx.jobs.enqueue import defer_job
from metricx.kit import egress
from metricx.kit.crypto import Cipher
from metricx.logging import get_logger
from metricx.metrics.calendar import WEEKDAYS
from metricx.models import (
    NotificationChannel,
    ReportDelivery,
    ReportFrequency,
    ReportSchedule,
    Workspace,
)
from metricx.notifications import repository as channels
from metricx.notifications import senders
from metricx.notifications import service as notifications
from metricx.reports import render, repository
from metricx.reports.content import build_report
from metricx.reports.periods import Period, current_period
from metricx.reports.schemas import ScheduleCreate

log = get_logger("metricx.reports")
SEND_TASK = "send_report"
QUEUE = "notifications"
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_schedule(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    created_by: uuid.UUID | None,
    body: ScheduleCreate,
) -> ReportSchedule:
    """A schedule sending through one of the workspace's channels (InvalidInput otherwise:
    another workspace's channel is no channel here). Its first report is its next
    occurrence."""
    if channels.channel(session, workspace_id, body.channel_id) is None:
        raise InvalidInput(
            "channel_id: no such notification channel in this workspace",
            details=[{"field": "channel_id", "reason": "no such notification channel"}],
        )
    row = ReportSchedule(
        workspace_id=workspace_id,
        name=body.name,
        channel_id=body.channel_id,
        frequency=ReportFrequency(body.frequency),
        weekday=WEEKDAYS.index(body.weekday) if body.weekday else None,
        hour=body.hour,
        enabled=body.enabled,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    session.refresh(row)  # created_at, from the database's clock
    return row


@dataclass(frozen=True)
class Listed:
    schedule: ReportSchedule
    timezone: str
    last_delivery: ReportDelivery | None


def list_schedules(session: Session, *, workspace: Workspace) -> list[Listed]:
    rows = repository.schedules_of(session, workspace.id)
    last = repository.latest_deliveries(session, workspace.id, [r.id for r in rows])
    return [Listed(r, workspace.timezone, last.get(r.id)) for r in rows]


def workspace_of(session: Session, workspace_id: uuid.UUID) -> Workspace:
    """The workspace (for the CLI, which names it by id)."""
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("no such workspace")
    return workspace


def get_schedule(
    session: Session, *, workspace_id: uuid.UUID, schedule_id: uuid.UUID
) -> ReportSchedule:
    row = repository.schedule(session, workspace_id, schedule_id)
    if row is None:
        raise NotFound("no such report")
    return row


def delete_schedule(session: Session, *, workspace_id: uuid.UUID, schedule_id: uuid.UUID) -> None:
    """Remove a schedule (its deliveries and pending sends go with it)."""
    session.delete(get_schedule(session, workspace_id=workspace_id, schedule_id=schedule_id))
    session.flush()


def _period(row: ReportSchedule, zone: str, now: datetime) -> tuple[datetime, Period]:
    return current_period(
        now, zone=zone, frequency=row.frequency, hour=row.hour, weekday=row.weekday
    )


def enqueue_due(session: Session, *, now: datetime) -> int:
    """Hand every due report to the queue: a schedule whose latest occurrence (its hour in
    the workspace's zone) has passed since it was created and whose period has no delivery
    yet. Returns the send jobs deferred."""
    deferred = 0
    for row, workspace, _channel in repository.enabled_schedules(session):
        at, period = _period(row, workspace.timezone, now)
        if at < row.created_at:
            continue  # created after this occurrence: its first report is the next one
        delivery_id = repository.add_delivery(session, row, period.start, period.end)
        if delivery_id is not None:
            defer_job(session, SEND_TASK, {"delivery_id": str(delivery_id)}, queue=QUEUE)
            deferred += 1
    session.flush()
    return deferred


def _send(
    session: Session,
    row: ReportSchedule,
    channel: NotificationChannel,
    workspace: Workspace,
    period: Period,
    *,
    settings: Settings,
    cipher: Cipher,
    clock: Clock,
    resolve: egress.Resolver,
) -> None:
    report = build_report(
        session,
        workspace,
        title=row.name,
        frequency=row.frequency,
        period=period,
        base_url=settings.base_url,
        clock=clock,
    )
    notifications.send_to_channel(
        channel,
        settings=settings,
        cipher=cipher,
        subject=render.subject(report),
        text=render.text(report),
        html=render.html(report),
        payload=render.payload(report),
        resolve=resolve,
    )


def deliver(
    session: Session,
    *,
    settings: Settings,
    cipher: Cipher,
    delivery_id: uuid.UUID,
    clock: Clock = _utcnow,
    resolve: egress.Resolver = egress.system_resolver,
) -> str:
    """Build and send one period's report. Returns ``sent``, ``already_sent``, ``gone`` or
    ``gave_up``; raises ``DeliveryFailed`` (after recording the attempt) so the job is
    retried."""
    delivery = repository.delivery_for_update(session, delivery_id)
    if delivery is None:
        return "gone"
    row = session.get(ReportSchedule, delivery.schedule_id)
    workspace = session.get(Workspace, delivery.workspace_id)
    if row is None or workspace is None:
        return "gone"
    channel = channels.channel(session, delivery.workspace_id, row.channel_id)
    if channel is None:
        return "gone"
    period = Period(delivery.period_start, delivery.period_end)
    return notifications.attempt(
        session,
        delivery,
        lambda: _send(
            session,
            row,
            channel,
            workspace,
            period,
            settings=settings,
            cipher=cipher,
            clock=clock,
            resolve=resolve,
        ),
        max_attempts=settings.notification_max_attempts,
    )


def send_now(
    session: Session,
    *,
    settings: Settings,
    cipher: Cipher,
    workspace: Workspace,
    schedule_id: uuid.UUID,
    clock: Clock = _utcnow,
    resolve: egress.Resolver = egress.system_resolver,
) -> Period:
    """Send the report of the schedule's latest period at once (to try a schedule): not
    recorded as that period's delivery, so the scheduled one still goes. UpstreamError when
    the channel does not take it."""
    row = get_schedule(session, workspace_id=workspace.id, schedule_id=schedule_id)
    channel = channels.channel(session, workspace.id, row.channel_id)
    if channel is None:  # pragma: no cover - the foreign key removes the schedule with it
        raise NotFound("no such notification channel")
    _, period = _period(row, workspace.timezone, clock())
    try:
        _send(
            session,
            row,
            channel,
            workspace,
            period,
            settings=settings,
            cipher=cipher,
            clock=clock,
            resolve=resolve,
        )
    except senders.DeliveryFailed as exc:
        raise UpstreamError(f"the channel did not take the report: {exc}") from None
    return period
