"""ingest: per-workspace quotas (request and record token buckets, failed records per day)

Revision ID: b5e2d7c41f86
Revises: 7c1e5a9d3f20
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5e2d7c41f86"
down_revision: str | None = "7c1e5a9d3f20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_quotas",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("request_tokens", sa.Double(), nullable=False),
        sa.Column("record_tokens", sa.Double(), nullable=False),
        sa.Column("refilled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_day", sa.Date(), nullable=True),
        sa.Column("failed_stored", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_ingest_quotas")),
    )


def downgrade() -> None:
    op.drop_table("ingest_quotas")
