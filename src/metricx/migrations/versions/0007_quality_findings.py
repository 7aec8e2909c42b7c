"""quality: validation findings and the entity-parent snapshot that reveals moves

Revision ID: 6e3f1a9b2c57
Revises: 9c41d7e2b5a8
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "6e3f1a9b2c57"
down_revision: str | None = "9c41d7e2b5a8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quality_entity_parents",
        sa.Column("entity_id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("previous_parent_id", sa.UUID(), nullable=True),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_quality_entity_parents_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_quality_entity_parents_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entity_id", name=op.f("pk_quality_entity_parents")),
    )
    op.create_index(
        op.f("ix_quality_entity_parents_workspace_id"),
        "quality_entity_parents",
        ["workspace_id"],
        unique=False,
    )
    # One open finding per (workspace, dedupe key); resolved ones are history.
    op.create_table(
        "quality_findings",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("connection_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column(
            "severity",
            sa.Enum(
                "info",
                "warning",
                "critical",
                name="severity",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("entity_id", sa.UUID(), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "numbers", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("seen_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_quality_findings_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_quality_findings_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_quality_findings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_findings")),
    )
    op.create_index(
        "ix_quality_findings_connection_id_kind",
        "quality_findings",
        ["connection_id", "kind"],
        unique=False,
    )
    op.create_index(
        op.f("ix_quality_findings_entity_id"), "quality_findings", ["entity_id"], unique=False
    )
    op.create_index(
        "ix_quality_findings_workspace_id_last_seen_at",
        "quality_findings",
        ["workspace_id", "last_seen_at"],
        unique=False,
    )
    op.create_index(
        "uq_quality_findings_open_workspace_id_dedupe_key",
        "quality_findings",
        ["workspace_id", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_quality_findings_open_workspace_id_dedupe_key",
        table_name="quality_findings",
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.drop_index("ix_quality_findings_workspace_id_last_seen_at", table_name="quality_findings")
    op.drop_index(op.f("ix_quality_findings_entity_id"), table_name="quality_findings")
    op.drop_index("ix_quality_findings_connection_id_kind", table_name="quality_findings")
    op.drop_table("quality_findings")
    op.drop_index(
        op.f("ix_quality_entity_parents_workspace_id"), table_name="quality_entity_parents"
    )
    op.drop_table("quality_entity_parents")
