"""rollups on each account's own calendar: every row carries its account's zone and local day

Daily facts were re-bucketed into the viewer's zone, so a Kolkata account's day was split
across two New York days. Rollup rows now carry the zone of the account their facts belong to
(the connection's, or the workspace's for facts pushed without one) and the bucket's local
date in it; week rows are the local Monday-to-Sunday weeks of those dates. The existing rows
cannot be converted in place (a workspace row mixed accounts of several zones), so they are
summed again from the facts. Workspaces gain a week start (Monday unless set).

Revision ID: 4d8b2f6e1a90
Revises: a3c9e1f7d2b4
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4d8b2f6e1a90"
down_revision: str | None = "a3c9e1f7d2b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEASURES = ("spend", "impressions", "clicks", "conversions", "leads", "purchases", "purchase_value")
ACTIONS = ("conversions", "leads", "purchases", "purchase_value")
OLD_KEY = [
    "workspace_id",
    "granularity",
    "level",
    "event_at",
    "entity_id",
    "currency",
    "fact_level",
    "provider",
]

# The rollups of one workspace summed from its facts, as the ingest merge keeps them at this
# revision (frozen here: the application's SQL may change after it).
_REBUILD = """
WITH f AS (
    SELECT f.entity_id, f.level AS fact_level, f.provider, f.granularity, f.event_at,
           f.currency, 1 AS facts, ({reported})::int AS conversions_n, {coalesced}
    FROM metric_facts f WHERE f.workspace_id = :ws AND f.granularity IN ('hour', 'day')
), by_parent AS (
    SELECT e.parent_id,
           CASE WHEN e.level = 'ad' THEN NULL ELSE e.id END AS self_id,
           CASE WHEN e.level = 'ad' THEN NULL ELSE e.level END AS self_level,
           d.granularity, d.event_at, d.currency, d.fact_level, d.provider,
           coalesce(zc.timezone, zw.timezone) AS zone,
           sum(d.facts) AS facts, sum(d.conversions_n) AS conversions_n, {sums}
    FROM f d JOIN entities e ON e.id = d.entity_id
    LEFT JOIN connections zc ON zc.id = e.connection_id
    CROSS JOIN (SELECT timezone FROM workspaces WHERE id = CAST(:ws AS uuid)) zw
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
), d AS (
    SELECT x.level, x.id AS entity_id, d.granularity, d.event_at, d.currency, d.fact_level,
           d.provider, d.zone, (d.event_at AT TIME ZONE d.zone)::date AS day,
           sum(d.facts) AS facts, sum(d.conversions_n) AS conversions_n, {sums}
    FROM by_parent d
    LEFT JOIN entities p1 ON p1.id = d.parent_id
    LEFT JOIN entities p2 ON p2.id = p1.parent_id
    LEFT JOIN entities p3 ON p3.id = p2.parent_id
    CROSS JOIN LATERAL (VALUES ('workspace', CAST(:ws AS uuid)), (d.self_level, d.self_id),
                               (p1.level, p1.id), (p2.level, p2.id), (p3.level, p3.id))
        AS x(level, id)
    WHERE x.id IS NOT NULL AND x.level IN ('workspace', 'account', 'campaign', 'adset')
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
), blocks AS (
    SELECT level, entity_id, 'wk_' || granularity AS granularity,
           date_trunc('week', day)::date AS day, currency, fact_level, provider, zone,
           sum(facts) AS facts, sum(conversions_n) AS conversions_n, {sums}
    FROM d GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
)
INSERT INTO metric_rollups (workspace_id, level, entity_id, granularity, event_at, currency,
    fact_level, provider, zone, day, facts, conversions_n, {measures})
SELECT CAST(:ws AS uuid), level, entity_id, granularity, event_at, currency, fact_level,
       provider, zone, day, facts, conversions_n, {measures} FROM d
UNION ALL
SELECT CAST(:ws AS uuid), level, entity_id, granularity, day::timestamp AT TIME ZONE zone,
       currency, fact_level, provider, zone, day, facts, conversions_n, {measures} FROM blocks
"""


def upgrade() -> None:
    op.add_column(
        "workspaces",
        sa.Column("week_start", sa.String(9), server_default="monday", nullable=False),
    )
    op.execute("DELETE FROM metric_rollups")
    op.add_column("metric_rollups", sa.Column("zone", sa.String(64), nullable=False))
    op.add_column("metric_rollups", sa.Column("day", sa.Date(), nullable=False))
    op.drop_constraint("pk_metric_rollups", "metric_rollups", type_="primary")
    op.create_primary_key("pk_metric_rollups", "metric_rollups", [*OLD_KEY, "zone"])
    rebuild = sa.text(
        _REBUILD.format(
            reported=" OR ".join(f"f.{m} IS NOT NULL" for m in ACTIONS),
            coalesced=", ".join(f"coalesce(f.{m}, 0) AS {m}" for m in MEASURES),
            sums=", ".join(f"sum(d.{m}) AS {m}" for m in MEASURES),
            measures=", ".join(MEASURES),
        )
    )
    bind = op.get_bind()
    for (workspace_id,) in bind.execute(sa.text("SELECT id FROM workspaces")):
        bind.execute(rebuild, {"ws": workspace_id})


def downgrade() -> None:
    # The older rows were keyed by instant only: sum the zones' rows of one instant, and the
    # weeks again by UTC week.
    sums = ", ".join(f"sum({m}) AS {m}" for m in MEASURES)
    key = ", ".join(OLD_KEY)
    op.execute(
        f"""
        CREATE TEMP TABLE zone_folded ON COMMIT DROP AS
        SELECT {key}, sum(facts) AS facts, sum(conversions_n) AS conversions_n, {sums}
        FROM metric_rollups WHERE granularity IN ('hour', 'day') GROUP BY {key}
        """
    )
    op.execute("DELETE FROM metric_rollups")
    op.drop_constraint("pk_metric_rollups", "metric_rollups", type_="primary")
    op.drop_column("workspaces", "week_start")
    op.drop_column("metric_rollups", "day")
    op.drop_column("metric_rollups", "zone")
    op.create_primary_key("pk_metric_rollups", "metric_rollups", OLD_KEY)
    columns = f"{key}, facts, conversions_n, {', '.join(MEASURES)}"
    op.execute(f"INSERT INTO metric_rollups ({columns}) SELECT {columns} FROM zone_folded")
    week = "(date_trunc('week', event_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    op.execute(
        f"""
        INSERT INTO metric_rollups ({columns})
        SELECT workspace_id, 'wk_' || granularity, level, {week}, entity_id, currency,
               fact_level, provider, sum(facts), sum(conversions_n), {sums}
        FROM zone_folded GROUP BY workspace_id, granularity, level, {week}, entity_id, currency,
                 fact_level, provider
        """
    )
