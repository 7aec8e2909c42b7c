"""rollups: hour rows summed per local day (dy_hour), and ads' own days and weeks

A day, week or month question over hourly facts read 24 rollup rows per entity and day, and
at the ad level (no rollups) every hourly fact. Every level's hour rows are now also summed
per local day (granularity ``dy_hour``), and ads get rollup rows: their daily facts, their
hours per day and their weeks (no hour rows: those would repeat the facts). The ingest merge
keeps them from now on; this builds them for the rows already there. Daily facts with reach
get an index of their own: a day question per ad reads each ad's daily reach.

Revision ID: 5c1e7a9d3b20
Revises: 8d4b1f6e2a93
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e7a9d3b20"
down_revision: str | None = "8d4b1f6e2a93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ("workspace_id", "level", "entity_id", "granularity", "event_at", "currency")
SOURCE = ("fact_level", "provider", "zone")
# Each reporting group's counter and its measures at this revision (frozen: the registry may
# grow after it). Only the columns the tables have are used, so measures added later by a
# plugin or a migration are summed by theirs.
GROUPS = {
    "conversions_n": ("conversions", "leads", "purchases", "purchase_value"),
    "engagement_n": ("link_clicks", "outbound_clicks", "landing_page_views", "post_engagement"),
    "video_n": (
        "video_plays",
        "thruplays",
        "video_p25",
        "video_p50",
        "video_p75",
        "video_p95",
        "video_p100",
        "video_watch_seconds",
    ),
    "results_n": ("results",),
}
NOT_SUMMED = {*KEY, *SOURCE, "day", "facts"}


def _columns(table: str) -> list[str]:
    return [c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)]


def upgrade() -> None:
    rollup_cols = _columns("metric_rollups")
    fact_cols = set(_columns("metric_facts"))
    counters = [c for c in GROUPS if c in rollup_cols]
    measures = [c for c in rollup_cols if c not in NOT_SUMMED and c not in counters]
    measures = [m for m in measures if m in fact_cols]
    summed = ["facts", *counters, *measures]
    insert = (
        "INSERT INTO metric_rollups (workspace_id, level, entity_id, granularity, event_at,"
        f" currency, fact_level, provider, zone, day, {', '.join(summed)})"
    )
    sums = ", ".join(f"sum({c})" for c in summed)
    # Every level's hour rows per local day.
    op.execute(
        f"""{insert}
        SELECT workspace_id, level, entity_id, 'dy_hour', day::timestamp AT TIME ZONE zone,
               currency, fact_level, provider, zone, day, {sums}
        FROM metric_rollups WHERE granularity = 'hour'
        GROUP BY workspace_id, level, entity_id, day, currency, fact_level, provider, zone"""
    )
    reported = {
        c: " OR ".join(f"f.{m} IS NOT NULL" for m in GROUPS[c] if m in fact_cols) or "false"
        for c in counters
    }
    per_fact = ", ".join(
        ["1 AS facts"]
        + [f"({reported[c]})::int AS {c}" for c in counters]
        + [f"coalesce(f.{m}, 0) AS {m}" for m in measures]
    )
    ads = f"""
        SELECT f.workspace_id, f.entity_id, f.granularity, f.event_at, f.currency,
               f.level AS fact_level, f.provider, z.zone,
               (f.event_at AT TIME ZONE z.zone)::date AS day, {per_fact}
        FROM metric_facts f JOIN entities e ON e.id = f.entity_id AND e.level = 'ad'
        LEFT JOIN connections zc ON zc.id = e.connection_id
        JOIN workspaces w ON w.id = f.workspace_id
        CROSS JOIN LATERAL (SELECT coalesce(zc.timezone, w.timezone) AS zone) z
        WHERE f.granularity IN ('hour', 'day')"""
    group = "workspace_id, entity_id, currency, fact_level, provider, zone"
    # Ads' daily facts, their hours per day, then both per local week.
    op.execute(
        f"""{insert}
        SELECT workspace_id, 'ad', entity_id, 'day', event_at, currency, fact_level, provider,
               zone, day, {sums}
        FROM ({ads}) a WHERE granularity = 'day' GROUP BY {group}, event_at, day"""
    )
    op.execute(
        f"""{insert}
        SELECT workspace_id, 'ad', entity_id, 'dy_hour', day::timestamp AT TIME ZONE zone,
               currency, fact_level, provider, zone, day, {sums}
        FROM ({ads}) a WHERE granularity = 'hour' GROUP BY {group}, day"""
    )
    week = "date_trunc('week', day)::date"
    op.execute(
        f"""{insert}
        SELECT workspace_id, 'ad', entity_id, 'wk_' || granularity,
               {week}::timestamp AT TIME ZONE zone, currency, fact_level, provider, zone,
               {week}, {sums}
        FROM ({ads}) a GROUP BY {group}, granularity, {week}"""
    )

    # The day's reach of chosen ads, read from their daily facts (never summed).
    op.create_index(
        "ix_metric_facts_daily_reach",
        "metric_facts",
        ["entity_id", "event_at"],
        postgresql_where=sa.text("granularity = 'day' AND reach IS NOT NULL"),
    )

    # Every import updates the same few rollup rows: room for HOT updates, early vacuum.
    op.execute(
        "ALTER TABLE metric_rollups SET (fillfactor = 70,"
        " autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE metric_rollups RESET (fillfactor, autovacuum_vacuum_scale_factor,"
        " autovacuum_analyze_scale_factor)"
    )
    op.drop_index("ix_metric_facts_daily_reach", table_name="metric_facts")
    op.execute("DELETE FROM metric_rollups WHERE granularity = 'dy_hour' OR level = 'ad'")
