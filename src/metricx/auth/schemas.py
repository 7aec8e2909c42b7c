from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from metricx.kit.inputs import Name, Text


class ApiKeyScope(StrEnum):
    READ = "read"
    INGEST = "ingest"
    ADMIN = "admin"


class LoginRequest(BaseModel):
    email: Text = Field(min_length=3, max_length=320)
    password: Text = Field(min_length=1, max_length=1000)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str | None
    timezone: str | None


class SessionRead(BaseModel):
    user: UserRead
    csrf_token: str


class ApiKeyCreate(BaseModel):
    name: Name = "api key"
    scopes: list[ApiKeyScope] = Field(
        default_factory=lambda: [ApiKeyScope.READ, ApiKeyScope.INGEST, ApiKeyScope.ADMIN],
        min_length=1,
    )


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself. Shown once; only its hash is stored.")
