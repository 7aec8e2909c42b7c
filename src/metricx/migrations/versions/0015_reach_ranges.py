"""reach_ranges: Meta's deduplicated reach per account, campaign and ad set for a range

Reach does not add up across days, so a week's, a month's or any range's reach is asked of
Meta for that exact range and kept here (the standard ranges by the sync, any other range on
demand), never summed from daily reach.

Revision ID: 7c1e5a9d3f20
Revises: e24f530f50af
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7c1e5a9d3f20"
down_revision: str | None = "e24f530f50af"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reach_ranges",
        sa.Column("workspace_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("entity_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("reach", sa.BigInteger(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column(
            "fetched_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_reach_ranges_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_reach_ranges_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "entity_id", "since", "until", name=op.f("pk_reach_ranges")
        ),
    )
    op.create_index(
        "ix_reach_ranges_workspace_id_fetched_at",
        "reach_ranges",
        ["workspace_id", "fetched_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_reach_ranges_workspace_id_fetched_at", table_name="reach_ranges")
    op.drop_table("reach_ranges")
