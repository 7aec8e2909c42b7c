"""breakdown facts without reach, indexed for the daily pass that re-reads them

``ix_breakdown_facts_without_reach``: the rows with impressions Meta gave no reach (a window
starting over 13 months back), by workspace, set and day. A daily pass finds the days to ask
again for their reach from it; partial, so it holds only those rows.

Revision ID: 5c5b7e3a9d21
Revises: 5c4a2d9f7e10
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c5b7e3a9d21"
down_revision: str | None = "5c4a2d9f7e10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_breakdown_facts_without_reach",
        "breakdown_facts",
        ["workspace_id", "breakdown", "day"],
        postgresql_where=sa.text("reach IS NULL AND impressions > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_breakdown_facts_without_reach", table_name="breakdown_facts")
