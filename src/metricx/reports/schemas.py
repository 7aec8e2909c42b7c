from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from metricx.kit.inputs import Name
from metricx.metrics.calendar import WEEKDAYS

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
assert tuple(Weekday.__args__) == WEEKDAYS  # type: ignore[attr-defined]


class ScheduleCreate(BaseModel):
    name: Name = Field(description="Shown as the report's title (and in the e-mail subject).")
    channel_id: uuid.UUID = Field(description="One of this workspace's notification channels.")
    frequency: Literal["daily", "weekly"] = Field(
        description="daily: yesterday against the day before; weekly: the last 7 days against "
        "the 7 before."
    )
    weekday: Weekday | None = Field(
        default=None, description="The day a weekly report goes out (weekly only)."
    )
    hour: int = Field(
        ge=0, le=23, description="The hour it goes out at, in the workspace's time zone."
    )
    enabled: bool = True

    @model_validator(mode="after")
    def _weekday_when_weekly(self) -> ScheduleCreate:
        if self.frequency == "weekly" and self.weekday is None:
            raise ValueError("a weekly report needs weekday")
        if self.frequency == "daily" and self.weekday is not None:
            raise ValueError("weekday is for weekly reports only")
        return self


class DeliveryRead(BaseModel):
    period_start: date
    period_end: date
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class ScheduleRead(BaseModel):
    id: uuid.UUID
    name: str
    channel_id: uuid.UUID
    frequency: str
    weekday: Weekday | None
    hour: int
    timezone: str = Field(description="The workspace's time zone, which `hour` is in.")
    enabled: bool
    created_by: uuid.UUID | None
    created_at: datetime
    last_delivery: DeliveryRead | None = Field(
        description="The delivery of the latest period handed to the channel, if any."
    )


class ScheduleList(BaseModel):
    reports: list[ScheduleRead]


class SendResult(BaseModel):
    sent: bool
    period_start: date
    period_end: date
    previous_start: date
    previous_end: date
