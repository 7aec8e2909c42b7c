"""rollups keyed by provider: two providers' facts of one bucket are never one row

Workspace rollup rows were keyed without the provider, so one provider's ads and another's
ads of the same hour, currency and fact level became one row labelled with either provider,
and a query for one of them lost the other. The key now includes the provider; the
workspace-level rows (the only ones entities of two providers share) are summed again from
the facts, with their UTC weeks.

Revision ID: e7c2a4f9b1d3
Revises: b5e8d1f3a6c2
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "e7c2a4f9b1d3"
down_revision: str | None = "b5e8d1f3a6c2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEASURES = ("spend", "impressions", "clicks", "conversions", "leads", "purchases", "purchase_value")
ACTIONS = ("conversions", "leads", "purchases", "purchase_value")
KEY = "workspace_id, granularity, level, event_at, entity_id, currency, fact_level"
WEEK = "(date_trunc('week', event_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


def upgrade() -> None:
    op.execute("DELETE FROM metric_rollups WHERE level = 'workspace'")
    op.drop_constraint("pk_metric_rollups", "metric_rollups", type_="primary")
    op.create_primary_key("pk_metric_rollups", "metric_rollups", [*KEY.split(", "), "provider"])
    columns = f"currency, fact_level, provider, facts, conversions_n, {', '.join(MEASURES)}"
    reported = " OR ".join(f"{m} IS NOT NULL" for m in ACTIONS)
    op.execute(
        f"""
        INSERT INTO metric_rollups (workspace_id, level, entity_id, granularity, event_at,
            {columns})
        SELECT workspace_id, 'workspace', workspace_id, granularity, event_at, currency,
               level, provider, count(*), count(*) FILTER (WHERE {reported}),
               {", ".join(f"coalesce(sum({m}), 0)" for m in MEASURES)}
        FROM metric_facts WHERE granularity IN ('hour', 'day')
        GROUP BY workspace_id, granularity, event_at, currency, level, provider
        """
    )
    op.execute(
        f"""
        INSERT INTO metric_rollups (workspace_id, level, entity_id, granularity, event_at,
            {columns})
        SELECT workspace_id, level, entity_id, 'wk_' || granularity, {WEEK}, currency,
               fact_level, provider, sum(facts), sum(conversions_n),
               {", ".join(f"sum({m})" for m in MEASURES)}
        FROM metric_rollups WHERE level = 'workspace' AND granularity IN ('hour', 'day')
        GROUP BY workspace_id, level, entity_id, granularity, {WEEK}, currency, fact_level,
                 provider
        """
    )


def downgrade() -> None:
    # Rows of two providers that share the old key would collide: fold them back first.
    sums = ", ".join(f"sum({m}) AS {m}" for m in MEASURES)
    op.execute(
        f"""
        CREATE TEMP TABLE folded ON COMMIT DROP AS
        SELECT {KEY}, min(provider) AS provider, sum(facts) AS facts,
               sum(conversions_n) AS conversions_n, {sums}
        FROM metric_rollups GROUP BY {KEY}
        """
    )
    op.execute("DELETE FROM metric_rollups")
    op.drop_constraint("pk_metric_rollups", "metric_rollups", type_="primary")
    op.create_primary_key("pk_metric_rollups", "metric_rollups", KEY.split(", "))
    columns = f"{KEY}, provider, facts, conversions_n, {', '.join(MEASURES)}"
    op.execute(f"INSERT INTO metric_rollups ({columns}) SELECT {columns} FROM folded")
