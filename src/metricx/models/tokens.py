from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, DateTime, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import (
    Base,
    Provider,
    StrEnum,
    created_at,
    tenant_id,
    tenant_mapper_args,
    tenant_pk,
    text_enum,
    updated_at,
)


class TokenStatus(StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"
    INVALID = "invalid"
    REVOKED = "revoked"


class Token(Base):
    """A provider credential. Only ciphertext is stored (Fernet); decrypt at the point of use."""

    __tablename__ = "tokens"
    __table_args__ = (tenant_pk(),)
    __mapper_args__ = tenant_mapper_args()

    id: Mapped[uuid.UUID] = tenant_id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[Provider] = mapped_column(text_enum(Provider, "provider"))
    external_user_id: Mapped[str | None] = mapped_column(String(64))
    token_type: Mapped[str | None] = mapped_column(String(32))
    access_token_enc: Mapped[bytes] = mapped_column(LargeBinary)
    refresh_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data_access_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    status: Mapped[TokenStatus] = mapped_column(
        text_enum(TokenStatus, "token_status"), default=TokenStatus.VALID
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    def __repr__(self) -> str:
        return f"Token(id={self.id}, provider={self.provider}, access_token=***)"
