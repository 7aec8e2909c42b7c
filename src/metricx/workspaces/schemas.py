from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from metricx.ingest.currencies import ISO_4217
from metricx.kit.inputs import Name, ZoneName, storable_text

WeekStart = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class WorkspaceCreate(BaseModel):
    name: Name
    timezone: ZoneName = Field(default="UTC", description="IANA time zone for display.")
    week_start: WeekStart = Field(default="monday", description="The first day of a week bucket.")


ReportingCurrency = Annotated[
    str,
    StringConstraints(pattern=r"^([A-Z]{3})?$"),
    AfterValidator(storable_text),
    Field(
        description="ISO 4217 code totals, tiles, chart and sort convert to (each day at that "
        'day\'s rate); "" for none (per currency).',
        # The codes the server accepts: a client (and a fuzzer) sees which three letters pass.
        json_schema_extra={"enum": ["", *sorted(ISO_4217)]},
    ),
]


class WorkspaceUpdate(BaseModel):
    name: Name | None = None
    timezone: ZoneName | None = None
    week_start: WeekStart | None = None
    reporting_currency: ReportingCurrency | None = None


class WorkspaceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    timezone: str
    week_start: str
    reporting_currency: str | None = None
    created_at: datetime
    role: str | None = None
    scopes: list[str] = Field(default_factory=list)
