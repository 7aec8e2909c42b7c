"""imports.request_hash: a retried Idempotency-Key must carry the same request

Revision ID: 5d2a9e41c7b3
Revises: c8f4899b8297
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d2a9e41c7b3"
down_revision: str | None = "c8f4899b8297"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("imports", sa.Column("request_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("imports", "request_hash")
