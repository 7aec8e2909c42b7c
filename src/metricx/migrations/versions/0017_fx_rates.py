"""fx: daily exchange rates (per one EUR) and a workspace's reporting currency

Revision ID: 3f8a61c2d9e4
Revises: b5e2d7c41f86
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f8a61c2d9e4"
down_revision: str | None = "b5e2d7c41f86"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fx_rates",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("rate > 0", name=op.f("ck_fx_rates_rate_positive")),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_fx_rates_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_rates")),
    )
    op.create_index(
        "uq_fx_rates_operator_day_currency",
        "fx_rates",
        ["day", "currency"],
        unique=True,
        postgresql_where=sa.text("workspace_id IS NULL"),
    )
    op.create_index(
        "uq_fx_rates_workspace_day_currency",
        "fx_rates",
        ["workspace_id", "day", "currency"],
        unique=True,
        postgresql_where=sa.text("workspace_id IS NOT NULL"),
    )
    op.add_column("workspaces", sa.Column("reporting_currency", sa.String(length=3)))


def downgrade() -> None:
    op.drop_column("workspaces", "reporting_currency")
    op.drop_index("uq_fx_rates_workspace_day_currency", table_name="fx_rates")
    op.drop_index("uq_fx_rates_operator_day_currency", table_name="fx_rates")
    op.drop_table("fx_rates")
