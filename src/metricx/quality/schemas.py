"""Findings and validation runs as the API shows them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
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
