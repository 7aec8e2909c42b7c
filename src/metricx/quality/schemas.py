"""Findings and validation runs as the API shows them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metricx.models import Severity


class FindingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    connection_id: uuid.UUID | None
    kind: str
    severity: Severity
    entity_id: uuid.UUID | None
    level: str | None
    external_id: str | None
    period_start: datetime | None
    period_end: datetime | None
    numbers: dict[str, Any] = Field(
        description="The figures behind the finding: expected, actual and difference (per "
        "measure where several are compared)."
    )
    message: str
    seen_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None


class FindingList(BaseModel):
    findings: list[FindingRead]


class ValidationRunRead(BaseModel):
    connection_id: uuid.UUID
    since: date = Field(description="First local day checked.")
    until: date = Field(description="Last local day checked.")
    checks: list[str]
    skipped: dict[str, str] = Field(description="Checks not run, and why.")
    new: int
    resolved: int
    alerted: bool
    findings: list[FindingRead] = Field(description="Every discrepancy found by this run.")


class UnlistedAdRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    connection_id: uuid.UUID
    connection_name: str
    entity_id: uuid.UUID
    external_id: str = Field(description="The ad's Meta id.")
    adset_external_id: str | None = Field(description="The ad set its insights named.")
    campaign_external_id: str | None = Field(description="The campaign its insights named.")
    first_seen_at: datetime = Field(description="When a sync first stored it.")
    facts: int
    first_day: date | None = Field(description="First local day with a fact.")
    last_day: date | None = Field(description="Last local day with a fact.")
    spend: Decimal = Field(description="Spend stored so far (daily facts; hourly if none).")
    currency: str


class UnlistedAdList(BaseModel):
    note: str = Field(description="What these ads are, in a sentence.")
    ads: list[UnlistedAdRead]
