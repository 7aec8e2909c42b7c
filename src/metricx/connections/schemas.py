from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from metricx.facts.breakdowns import BREAKDOWN_SETS, DEFAULT_SETS
from metricx.kit.inputs import SecretText, Text


class ConnectionCreate(BaseModel):
    """A pasted token (e.g. a system user's) and the ad accounts to connect."""

    token: SecretText = Field(min_length=1, description="A Meta access token with ads_read.")
    accounts: list[Text] = Field(
        default_factory=list,
        description="Ad account ids (act_N or N); empty: every account the token reaches.",
    )


class ConnectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    workspace_id: uuid.UUID
    provider: str
    external_account_id: str
    name: str
    currency: str
    timezone: str
    account_status: int | None
    status: str
    sync_enabled: bool
    sync_interval_minutes: int
    last_sync_at: datetime | None
    last_success_at: datetime | None
    next_sync_at: datetime | None
    last_error: str | None
    has_token: bool = False
    # The breakdown sets its syncs fetch (the defaults unless chosen: PUT .../breakdowns).
    breakdown_sets: list[str] | None = None
    created_at: datetime


# Declared with its values, so a client (and a fuzzer) sees which names are accepted; the
# service still refuses others with a 422 naming them.
SetName = Annotated[Text, Field(json_schema_extra={"enum": [*BREAKDOWN_SETS]})]


class BreakdownSetsUpdate(BaseModel):
    """The breakdown sets a connection syncs."""

    sets: list[SetName] | None = Field(
        description="Set names ("
        + ", ".join(BREAKDOWN_SETS)
        + "); null: the defaults ("
        + ", ".join(DEFAULT_SETS)
        + "); empty: none.",
    )


class ConnectionList(BaseModel):
    connections: list[ConnectionRead]


class FetchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    connection_id: uuid.UUID | None
    kind: str
    status: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    calls: int
    async_jobs: int = 0
    rows: int
    revised: int = 0
    duration_ms: int | None = None
    checkpoint: dict[str, Any] | None
    error: str | None
    error_code: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ReconnectStarted(BaseModel):
    authorize_url: str = Field(description="Send the browser here to renew consent at Meta.")


class PendingAccount(BaseModel):
    id: str
    account_id: str
    name: str
    currency: str
    timezone: str
    account_status: int | None = None
    connected: bool = Field(description="Already a connection of this workspace.")
    preselected: bool


class PendingRead(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    expires_at: datetime
    accounts: list[PendingAccount]


class AccountChoice(BaseModel):
    accounts: list[Text] = Field(min_length=1, description="Ad account ids (act_N) to connect.")
