from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from metricx.models.base import Base, created_at, uuid_pk


class FactArchive(Base):
    """One month of one granularity of metric facts, or one month of breakdown facts
    (granularity ``day``; ``source`` a ``breakdown_facts_*`` partition), written to a Parquet
    file, read back and checked (rows and sums) before the rows left PostgreSQL."""

    __tablename__ = "fact_archives"
    __table_args__ = (UniqueConstraint("month", "granularity", "path"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    month: Mapped[date] = mapped_column(Date)
    granularity: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(63))  # the partition the rows came from
    method: Mapped[str] = mapped_column(String(16))  # drop_partition | delete_rows
    path: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(BigInteger)
    spend: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    impressions: Mapped[int] = mapped_column(BigInteger)
    clicks: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at()
