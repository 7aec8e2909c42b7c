from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Double, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import Base


class IngestQuota(Base):
    """One workspace's ingest allowance: two token buckets (requests and records), refilled
    at the configured rate per minute and up to a minute's worth, and the failed records
    stored on the current UTC day. Written in short transactions of their own, outside the
    request's, so concurrent requests never wait on each other for long; for the same reason
    no foreign key to workspaces (the row is a counter, created by a connection that may not
    see an uncommitted workspace)."""

    __tablename__ = "ingest_quotas"

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    request_tokens: Mapped[float] = mapped_column(Double)
    record_tokens: Mapped[float] = mapped_column(Double)
    refilled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failed_day: Mapped[date | None] = mapped_column(Date)
    failed_stored: Mapped[int] = mapped_column(BigInteger, default=0)
