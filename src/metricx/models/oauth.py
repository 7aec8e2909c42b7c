from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    Provider,
    created_at,
    tenant_fk,
    tenant_id,
    tenant_mapper_args,
    tenant_pk,
    text_enum,
)


class OAuthState(Base):
    """One started login-dialog round trip. The `state` sent to the provider is a signed
    reference to this row; the row makes it single-use and binds it to a user and workspace."""

    __tablename__ = "oauth_states"
    __table_args__ = (
        tenant_pk(),
        tenant_fk("oauth_states", "reconnect_connection_id", "connections", "CASCADE"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    provider: Mapped[Provider] = mapped_column(text_enum(Provider, "provider"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    reconnect_connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()


class OAuthGrant(Base):
    """A token obtained through the dialog, waiting for the user to choose its ad accounts."""

    __tablename__ = "oauth_grants"
    __table_args__ = (
        tenant_pk(),
        tenant_fk("oauth_grants", "token_id", "tokens", "CASCADE"),
        tenant_fk("oauth_grants", "reconnect_connection_id", "connections", "CASCADE"),
    )
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    provider: Mapped[Provider] = mapped_column(text_enum(Provider, "provider"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    token_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    reconnect_connection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    accounts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
