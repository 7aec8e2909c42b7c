"""A workspace's scheduled reports: the KPI tiles and top campaigns, daily or weekly, sent
through one of its notification channels."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from metricx.auth.dependencies import DbSession, RuntimeDep, WorkspaceAdmin, WorkspaceReader
from metricx.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    UpstreamError,
    error_responses,
)
from metricx.metrics.calendar import WEEKDAYS
from metricx.reports import service
from metricx.reports.schemas import (
    DeliveryRead,
    ScheduleCreate,
    ScheduleList,
    ScheduleRead,
    SendResult,
)

router = APIRouter(tags=["reports"])
BASE = "/workspaces/{workspace_id}/reports"
ERRORS = error_responses(Unauthorized, Forbidden, NotFound)


def read(listed: service.Listed) -> ScheduleRead:
    row, last = listed.schedule, listed.last_delivery
    return ScheduleRead(
        id=row.id,
        name=row.name,
        channel_id=row.channel_id,
        frequency=row.frequency.value,
        weekday=WEEKDAYS[row.weekday] if row.weekday is not None else None,
        hour=row.hour,
        timezone=listed.timezone,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=row.created_at,
        last_delivery=DeliveryRead(
            period_start=last.period_start,
            period_end=last.period_end,
            attempts=last.attempts,
            last_error=last.last_error,
            sent_at=last.sent_at,
        )
        if last is not None
        else None,
    )


@router.get(BASE, response_model=ScheduleList, responses=ERRORS)
def list_reports(access: WorkspaceReader, session: DbSession) -> ScheduleList:
    """The workspace's scheduled reports, each with its latest delivery (sent, or its
    attempts and last error)."""
    rows = service.list_schedules(session, workspace=access.workspace)
    return ScheduleList(reports=[read(r) for r in rows])


@router.post(
    BASE,
    status_code=201,
    response_model=ScheduleRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def create_report(body: ScheduleCreate, access: WorkspaceAdmin, session: DbSession) -> ScheduleRead:
    """Schedule a report: every day (yesterday against the day before) or every `weekday`
    (the last 7 days against the 7 before), once `hour` has passed in the workspace's time
    zone, through `channel_id` (an e-mail with a text and an HTML part, or a webhook's JSON).
    The first report is the next occurrence; each period is sent once, retried with backoff
    when the channel fails. A channel of another workspace answers 422."""
    row = service.create_schedule(
        session, workspace_id=access.workspace.id, created_by=access.user_id, body=body
    )
    return read(service.Listed(row, access.workspace.timezone, None))


@router.delete(BASE + "/{report_id}", status_code=204, responses=ERRORS)
def delete_report(report_id: uuid.UUID, access: WorkspaceAdmin, session: DbSession) -> Response:
    """Remove a scheduled report (its pending sends are dropped)."""
    service.delete_schedule(session, workspace_id=access.workspace.id, schedule_id=report_id)
    return Response(status_code=204)


@router.post(
    BASE + "/{report_id}/send",
    response_model=SendResult,
    responses=error_responses(Unauthorized, Forbidden, NotFound, UpstreamError),
)
def send_report_now(
    report_id: uuid.UUID, access: WorkspaceAdmin, session: DbSession, runtime: RuntimeDep
) -> SendResult:
    """Send the report of the latest period now, to try the schedule (the scheduled delivery
    of that period still goes). 502 when the channel does not take it, with its reason."""
    period = service.send_now(
        session,
        settings=runtime.settings,
        cipher=runtime.cipher,
        workspace=access.workspace,
        schedule_id=report_id,
    )
    return SendResult(
        sent=True,
        period_start=period.start,
        period_end=period.end,
        previous_start=period.previous.start,
        previous_end=period.previous.end,
    )
