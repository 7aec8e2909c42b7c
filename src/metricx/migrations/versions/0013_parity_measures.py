"""Ads Manager parity: link clicks, video and results measures; ad set settings

New registry measures on the facts (nullable: null means "not reported") and on the rollups
(summed, 0 by default), with one counter per new reporting group (engagement, video,
results) so that rows written before this revision keep saying "not reported" for them
rather than 0. Ad sets gain their optimization goal, promoted object, attribution setting
and the result type that follows from them. Adding nullable columns and columns with a
constant default rewrites no table.

Revision ID: 6383f5f18f19
Revises: 4d8b2f6e1a90
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "6383f5f18f19"
down_revision: str | None = "4d8b2f6e1a90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (the registry may change after this revision): name -> column type.
WHOLE = sa.BigInteger()
COUNT = sa.Numeric(18, 4)
MEASURES: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("link_clicks", WHOLE),
    ("outbound_clicks", COUNT),
    ("landing_page_views", COUNT),
    ("post_engagement", COUNT),
    ("video_plays", COUNT),
    ("thruplays", COUNT),
    ("video_p25", COUNT),
    ("video_p50", COUNT),
    ("video_p75", COUNT),
    ("video_p95", COUNT),
    ("video_p100", COUNT),
    ("video_watch_seconds", COUNT),
    ("results", COUNT),
)
COUNTERS = ("engagement_n", "video_n", "results_n")
AD_SET_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("optimization_goal", sa.String(64)),
    ("promoted_object", postgresql.JSONB()),
    ("attribution_setting", sa.String(128)),
    ("result_type", sa.String(200)),
)


def upgrade() -> None:
    for name, type_ in MEASURES:
        op.add_column("metric_facts", sa.Column(name, type_, nullable=True))
    for name in COUNTERS:
        op.add_column(
            "metric_rollups", sa.Column(name, sa.Integer(), server_default="0", nullable=False)
        )
    for name, type_ in MEASURES:
        op.add_column("metric_rollups", sa.Column(name, type_, server_default="0", nullable=False))
    for name, type_ in AD_SET_COLUMNS:
        op.add_column("entities", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(AD_SET_COLUMNS):
        op.drop_column("entities", name)
    for name, _ in reversed(MEASURES):
        op.drop_column("metric_rollups", name)
    for name in reversed(COUNTERS):
        op.drop_column("metric_rollups", name)
    for name, _ in reversed(MEASURES):
        op.drop_column("metric_facts", name)
