from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import Base


class SignInFailure(Base):
    """Failed sign-ins in a row for one e-mail address, whether or not an account has it, so
    the answers (and the slowing down) do not tell which addresses exist. The key is a keyed
    hash (HMAC) of the normalized address: the table never holds an address in clear."""

    __tablename__ = "sign_in_failures"

    email_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
