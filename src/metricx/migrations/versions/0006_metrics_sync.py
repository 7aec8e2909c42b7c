"""metrics sync: fetches carry async jobs, revised rows and duration

Revision ID: 9c41d7e2b5a8
Revises: 3b7e51c0d9a4
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c41d7e2b5a8"
down_revision: str | None = "3b7e51c0d9a4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "fetches", sa.Column("async_jobs", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("fetches", sa.Column("revised", sa.Integer(), server_default="0", nullable=False))
    op.add_column("fetches", sa.Column("duration_ms", sa.Integer(), nullable=True))
    # The sync's periodic pass and audit listing: a connection's fetches by kind and status.
    op.create_index(
        "ix_fetches_connection_id_kind_status", "fetches", ["connection_id", "kind", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_fetches_connection_id_kind_status", table_name="fetches")
    op.drop_column("fetches", "duration_ms")
    op.drop_column("fetches", "revised")
    op.drop_column("fetches", "async_jobs")
