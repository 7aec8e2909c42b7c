"""creatives: Meta ad creatives per workspace, and which one each ad shows (issue 17)

Revision ID: 5c2e9a7d1b60
Revises: 5c1e7a9d3b20
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5c2e9a7d1b60"
down_revision: str | None = "5c1e7a9d3b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "creatives",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column(
            "provider",
            sa.Enum(
                "meta",
                "google",
                "tiktok",
                "linkedin",
                "other",
                name="provider",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=True),
        sa.Column("account_external_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=1000), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("call_to_action", sa.String(length=64), nullable=True),
        sa.Column("link_url", sa.String(length=2000), nullable=True),
        sa.Column("url_tags", sa.String(length=2000), nullable=True),
        sa.Column("utm_source", sa.String(length=500), nullable=True),
        sa.Column("utm_medium", sa.String(length=500), nullable=True),
        sa.Column("utm_campaign", sa.String(length=500), nullable=True),
        sa.Column("utm_content", sa.String(length=500), nullable=True),
        sa.Column("utm_term", sa.String(length=500), nullable=True),
        sa.Column("object_type", sa.String(length=32), nullable=True),
        sa.Column("image_hash", sa.String(length=128), nullable=True),
        sa.Column("video_id", sa.String(length=128), nullable=True),
        sa.Column("media", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("thumbnail_source", sa.String(length=200), nullable=True),
        sa.Column("thumbnail_sha256", sa.String(length=64), nullable=True),
        sa.Column("thumbnail_content_type", sa.String(length=64), nullable=True),
        sa.Column("thumbnail_bytes", sa.Integer(), nullable=True),
        sa.Column("thumbnail_error", sa.String(length=300), nullable=True),
        sa.Column("created_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_creatives_connection_id_connections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_creatives_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "provider", "external_id", name=op.f("pk_creatives")
        ),
    )
    op.create_index(
        op.f("ix_creatives_connection_id"), "creatives", ["connection_id"], unique=False
    )
    op.create_table(
        "ad_creatives",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column(
            "provider",
            sa.Enum(
                "meta",
                "google",
                "tiktok",
                "linkedin",
                "other",
                name="provider",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("ad_external_id", sa.String(length=128), nullable=False),
        sa.Column("creative_external_id", sa.String(length=128), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_ad_creatives_connection_id_connections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ad_creatives_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "provider", "ad_external_id", name=op.f("pk_ad_creatives")
        ),
    )
    op.create_index(
        op.f("ix_ad_creatives_connection_id"), "ad_creatives", ["connection_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ad_creatives_connection_id"), table_name="ad_creatives")
    op.drop_table("ad_creatives")
    op.drop_index(op.f("ix_creatives_connection_id"), table_name="creatives")
    op.drop_table("creatives")
