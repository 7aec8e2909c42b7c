from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from metricx.kit.inputs import Name, SecretText, Text


class EmailSettings(BaseModel):
    host: Text = Field(min_length=1, max_length=253)
    port: int = Field(default=587, ge=1, le=65535)
    username: Text | None = None
    password: SecretText | None = None
    sender: Text = Field(min_length=3, max_length=320, description="The From: address.")
    recipients: list[Text] = Field(min_length=1, max_length=50)
    security: Literal["starttls", "ssl", "none"] = "starttls"


class ChannelCreate(BaseModel):
    kind: Literal["webhook", "email"]
    name: Name
    webhook_url: SecretText | None = Field(
        default=None, description="A Slack-compatible incoming webhook URL (kept encrypted)."
    )
    email: EmailSettings | None = None

    @model_validator(mode="after")
    def _one_target(self) -> ChannelCreate:
        if self.kind == "webhook":
            url = self.webhook_url.get_secret_value() if self.webhook_url else ""
            if not url.startswith(("https://", "http://")):
                raise ValueError("a webhook channel needs webhook_url (http:// or https://)")
        elif self.email is None:
            raise ValueError("an email channel needs email settings")
        return self


class ChannelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    name: str
    enabled: bool
    config: dict[str, Any] = Field(description="The channel's settings, without its secret.")
    has_secret: bool
    created_at: datetime


class ChannelList(BaseModel):
    channels: list[ChannelRead]
