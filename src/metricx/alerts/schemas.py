from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    key: str
    severity: str
    message: str
    details: dict[str, Any] | None
    count: int
    connection_id: uuid.UUID | None
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None


class AlertList(BaseModel):
    alerts: list[AlertRead]
