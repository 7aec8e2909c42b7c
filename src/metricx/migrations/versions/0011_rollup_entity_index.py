"""rollups: an index by entity, for the series of a top-N's chosen entities

The primary key orders rollup rows by time before entity, so the series of a dashboard's top
20 ad sets over 90 days read every ad set's rows of the range (36,000) to keep 1,800.

Revision ID: a3c9e1f7d2b4
Revises: e7c2a4f9b1d3
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "a3c9e1f7d2b4"
down_revision: str | None = "e7c2a4f9b1d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_metric_rollups_entity",
        "metric_rollups",
        ["workspace_id", "level", "granularity", "entity_id", "event_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_metric_rollups_entity", table_name="metric_rollups")
