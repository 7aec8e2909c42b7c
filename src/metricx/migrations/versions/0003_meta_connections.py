"""Meta connections: single-use OAuth states, pending account choices, entities.removed_at

Revision ID: a71c3e9d2f10
Revises: 5d2a9e41c7b3
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a71c3e9d2f10"
down_revision: str | None = "5d2a9e41c7b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _provider() -> sa.Enum:
    return sa.Enum(
        "meta",
        "google",
        "tiktok",
        "linkedin",
        "other",
        name="provider",
        native_enum=False,
        create_constraint=True,
        length=32,
    )


def upgrade() -> None:
    op.add_column("entities", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "oauth_states",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("provider", _provider(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("reconnect_connection_id", sa.UUID(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oauth_states_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_oauth_states_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reconnect_connection_id"],
            ["connections.id"],
            name=op.f("fk_oauth_states_reconnect_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_states")),
    )
    op.create_index(
        op.f("ix_oauth_states_workspace_id"), "oauth_states", ["workspace_id"], unique=False
    )
    op.create_table(
        "oauth_grants",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("provider", _provider(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("token_id", sa.UUID(), nullable=False),
        sa.Column("reconnect_connection_id", sa.UUID(), nullable=True),
        sa.Column("accounts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oauth_grants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_oauth_grants_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["tokens.id"],
            name=op.f("fk_oauth_grants_token_id_tokens"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reconnect_connection_id"],
            ["connections.id"],
            name=op.f("fk_oauth_grants_reconnect_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_grants")),
    )
    op.create_index(
        op.f("ix_oauth_grants_workspace_id"), "oauth_grants", ["workspace_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oauth_grants_workspace_id"), table_name="oauth_grants")
    op.drop_table("oauth_grants")
    op.drop_index(op.f("ix_oauth_states_workspace_id"), table_name="oauth_states")
    op.drop_table("oauth_states")
    op.drop_column("entities", "removed_at")
