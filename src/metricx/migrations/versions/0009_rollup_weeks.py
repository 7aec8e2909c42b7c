"""rollup weeks: every hour and day rollup row also summed into its UTC week

Long ranges read their whole weeks from these rows (granularity wk_hour / wk_day) and only
the edges from the finer rows. The ingest merge maintains them from now on; this builds them
for the rollups already there.

Revision ID: b5e8d1f3a6c2
Revises: d9daa0e4b355
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "b5e8d1f3a6c2"
down_revision: str | None = "d9daa0e4b355"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEASURES = "spend, impressions, clicks, conversions, leads, purchases, purchase_value"
WEEK = "(date_trunc('week', event_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


def upgrade() -> None:
    sums = ", ".join(f"sum({m.strip()})" for m in MEASURES.split(","))
    op.execute(
        f"""
        INSERT INTO metric_rollups (workspace_id, level, entity_id, granularity, event_at,
            currency, fact_level, provider, facts, conversions_n, {MEASURES})
        SELECT workspace_id, level, entity_id, 'wk_' || granularity, {WEEK}, currency,
               fact_level, min(provider), sum(facts), sum(conversions_n), {sums}
        FROM metric_rollups WHERE granularity IN ('hour', 'day')
        GROUP BY workspace_id, level, entity_id, granularity, {WEEK}, currency, fact_level
        """
    )


def downgrade() -> None:
    op.execute("DELETE FROM metric_rollups WHERE granularity IN ('wk_hour', 'wk_day')")
