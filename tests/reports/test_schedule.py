"""When a scheduled report is due: its hour on the workspace's wall clock (New York, Kolkata,
across both changes of summer time), its period (yesterday, or the last 7 days), exactly one
delivery per schedule and period however often the periodic job runs, and none for an
occurrence before the schedule existed. The clock is handed in; nothing sleeps."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from metricx.models import ReportDelivery, ReportFrequency, ReportSchedule
from metricx.notifications import service as notifications
from metricx.notifications.schemas import ChannelCreate
from metricx.reports import service
from metricx.reports.periods import Period, current_period, occurrence_at
from metricx.reports.schemas import ScheduleCreate
from metricx.runtime import Runtime
from metricx.worker.queue import build_queue
from tests.factories import KeyedWorkspace, make_keyed_workspace

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
NY = "America/New_York"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def webhook_channel(db: Session, runtime: Runtime, ws: KeyedWorkspace, url: str) -> uuid.UUID:
    body = ChannelCreate.model_validate({"kind": "webhook", "name": "ops", "webhook_url": url})
    return notifications.create_channel(
        db,
        settings=runtime.settings,
        cipher=runtime.cipher,
        workspace_id=ws.workspace.id,
        body=body,
    ).id


def schedule(
    db: Session,
    runtime: Runtime,
    ws: KeyedWorkspace,
    *,
    hour: int,
    weekday: str | None = None,
    url: str = "http://127.0.0.1:9/hook",
    created_at: datetime = LONG_AGO,
) -> ReportSchedule:
    channel_id = webhook_channel(db, runtime, ws, url)
    body = ScheduleCreate.model_validate(
        {
            "name": "Morning report",
            "channel_id": str(channel_id),
            "frequency": "weekly" if weekday else "daily",
            "weekday": weekday,
            "hour": hour,
        }
    )
    row = service.create_schedule(db, workspace_id=ws.workspace.id, created_by=None, body=body)
    row.created_at = created_at
    db.flush()
    return row


def periods(db: Session, row: ReportSchedule) -> list[tuple[date, date]]:
    found = db.scalars(
        select(ReportDelivery)
        .where(ReportDelivery.schedule_id == row.id)
        .order_by(ReportDelivery.period_start)
    )
    return [(d.period_start, d.period_end) for d in found]


def send_jobs(db: Session) -> int:
    return int(
        db.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t"),
            {"t": service.SEND_TASK},
        )
        or 0
    )


def test_a_daily_report_is_due_once_its_hour_passes_in_new_york(
    db: Session, runtime: Runtime
) -> None:
    ws = make_keyed_workspace(db, timezone=NY)
    row = schedule(db, runtime, ws, hour=8)
    # 2026-12-02 07:59 in New York (EST, UTC-5): the latest occurrence is 1 December's.
    service.enqueue_due(db, now=utc(2026, 12, 2, 12, 59))
    assert periods(db, row) == [(date(2026, 11, 30), date(2026, 11, 30))]
    service.enqueue_due(db, now=utc(2026, 12, 2, 13, 0))  # 08:00 EST: 2 December's is due
    service.enqueue_due(db, now=utc(2026, 12, 2, 13, 5))  # the job again: nothing new
    service.enqueue_due(db, now=utc(2026, 12, 3, 4, 59))  # 23:59 EST, still 2 December
    assert periods(db, row) == [
        (date(2026, 11, 30), date(2026, 11, 30)),
        (date(2026, 12, 1), date(2026, 12, 1)),
    ]
    assert send_jobs(db) == 2


def test_the_hour_follows_summer_time(db: Session, runtime: Runtime) -> None:
    """08:00 in New York is 13:00 UTC in winter, 12:00 UTC in summer."""
    assert occurrence_at(date(2026, 1, 15), 8, NY) == utc(2026, 1, 15, 13)
    assert occurrence_at(date(2026, 7, 15), 8, NY) == utc(2026, 7, 15, 12)
    ws = make_keyed_workspace(db, timezone=NY)
    row = schedule(db, runtime, ws, hour=8)
    service.enqueue_due(db, now=utc(2026, 7, 15, 11, 59))
    service.enqueue_due(db, now=utc(2026, 7, 15, 12, 0))
    assert periods(db, row)[-1] == (date(2026, 7, 14), date(2026, 7, 14))
    assert len(periods(db, row)) == 2


def test_an_hour_skipped_by_spring_forward_goes_right_after_the_gap(
    db: Session, runtime: Runtime
) -> None:
    # 8 March 2026 in New York: 02:00 EST becomes 03:00 EDT (07:00 UTC); 02:00 never happens.
    ws = make_keyed_workspace(db, timezone=NY)
    row = schedule(db, runtime, ws, hour=2)
    service.enqueue_due(db, now=utc(2026, 3, 8, 6, 59))  # 01:59 EST
    assert periods(db, row) == [(date(2026, 3, 6), date(2026, 3, 6))]
    service.enqueue_due(db, now=utc(2026, 3, 8, 7, 0))  # 03:00 EDT
    assert periods(db, row)[-1] == (date(2026, 3, 7), date(2026, 3, 7))
    service.enqueue_due(db, now=utc(2026, 3, 9, 5, 59))  # 01:59 EDT the next day
    service.enqueue_due(db, now=utc(2026, 3, 9, 6, 0))  # 02:00 EDT
    assert [p for p, _ in periods(db, row)] == [date(2026, 3, d) for d in (6, 7, 8)]


def test_an_hour_repeated_by_fall_back_sends_once(db: Session, runtime: Runtime) -> None:
    # 1 November 2026 in New York: 01:00-01:59 happens twice (EDT at 05:00 UTC, EST at 06:00).
    ws = make_keyed_workspace(db, timezone=NY)
    row = schedule(db, runtime, ws, hour=1)
    service.enqueue_due(db, now=utc(2026, 11, 1, 4, 59))  # 00:59 EDT
    before = len(periods(db, row))
    service.enqueue_due(db, now=utc(2026, 11, 1, 5, 0))  # 01:00 EDT: due
    service.enqueue_due(db, now=utc(2026, 11, 1, 6, 0))  # 01:00 EST: the same occurrence
    service.enqueue_due(db, now=utc(2026, 11, 1, 6, 30))
    assert len(periods(db, row)) == before + 1
    assert periods(db, row)[-1] == (date(2026, 10, 31), date(2026, 10, 31))


def test_a_weekly_report_covers_the_last_7_days_on_its_weekday_in_kolkata(
    db: Session, runtime: Runtime
) -> None:
    ws = make_keyed_workspace(db, timezone="Asia/Kolkata")
    row = schedule(db, runtime, ws, hour=9, weekday="monday")
    # Monday 7 December 2026, 09:00 IST = 03:30 UTC.
    service.enqueue_due(db, now=utc(2026, 12, 7, 3, 29))
    assert periods(db, row) == [(date(2026, 11, 23), date(2026, 11, 29))]  # the Monday before
    service.enqueue_due(db, now=utc(2026, 12, 7, 3, 30))
    service.enqueue_due(db, now=utc(2026, 12, 13, 18, 29))  # Sunday 23:59 IST
    assert periods(db, row)[-1] == (date(2026, 11, 30), date(2026, 12, 6))
    assert len(periods(db, row)) == 2
    assert Period(date(2026, 11, 30), date(2026, 12, 6)).previous == Period(
        date(2026, 11, 23), date(2026, 11, 29)
    )


def test_the_same_instant_is_a_different_day_in_another_zone() -> None:
    now = utc(2026, 12, 2, 3, 0)  # 2 December 08:30 in Kolkata, 1 December 22:00 in New York
    kolkata = current_period(
        now, zone="Asia/Kolkata", frequency=ReportFrequency.DAILY, hour=8, weekday=None
    )
    new_york = current_period(now, zone=NY, frequency=ReportFrequency.DAILY, hour=8, weekday=None)
    assert kolkata[1] == Period(date(2026, 12, 1), date(2026, 12, 1))
    assert new_york[1] == Period(date(2026, 11, 30), date(2026, 11, 30))


def test_a_new_schedule_starts_with_its_next_occurrence(db: Session, runtime: Runtime) -> None:
    ws = make_keyed_workspace(db)
    row = schedule(db, runtime, ws, hour=8, created_at=utc(2026, 12, 2, 14, 0))
    assert service.enqueue_due(db, now=utc(2026, 12, 2, 15, 0)) == 0  # today's 08:00 was before
    assert service.enqueue_due(db, now=utc(2026, 12, 3, 8, 0)) == 1
    assert periods(db, row) == [(date(2026, 12, 2), date(2026, 12, 2))]


def test_disabled_schedules_and_channels_send_nothing(db: Session, runtime: Runtime) -> None:
    ws = make_keyed_workspace(db)
    off = schedule(db, runtime, ws, hour=8)
    off.enabled = False
    muted = schedule(db, runtime, ws, hour=8)
    channel = notifications.repository.channel(db, ws.workspace.id, muted.channel_id)
    assert channel is not None
    channel.enabled = False
    db.flush()
    assert service.enqueue_due(db, now=utc(2026, 12, 3, 9)) == 0


def test_the_worker_runs_the_hand_over_periodically_and_retries_sends() -> None:
    queue = build_queue("postgresql://unused@localhost/unused")
    periodic = {t.task.name for t in queue.periodic_registry.periodic_tasks.values()}
    assert "enqueue_due_reports" in periodic
    task = queue.tasks["send_report"]
    assert task.retry_strategy is not None and (task.retry_strategy.max_attempts or 0) >= 5


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Chatham", "Pacific/Kiritimati"])
def test_the_period_always_ends_the_day_before_the_occurrence(zone: str) -> None:
    for hour in (0, 23):
        at, period = current_period(
            utc(2026, 6, 1, 12), zone=zone, frequency=ReportFrequency.DAILY, hour=hour, weekday=None
        )
        assert at <= utc(2026, 6, 1, 12)
        assert period.start == period.end
