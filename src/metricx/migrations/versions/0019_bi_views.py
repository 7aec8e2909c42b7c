"""bi: read-only SQL views for BI tools, and row-level security for workspace-bound roles

Schema ``bi``: ``daily_facts`` (every daily fact, any level) and ``ad_daily``, ``adset_daily``,
``campaign_daily``, ``account_daily`` (per entity and local day, with names, hierarchy,
currency, time zone and the ad set's attribution setting), and ``workspace_grants`` (which
role reads which workspace; ``metricx bi grant-role`` fills it).

The views are ``security_invoker``: a BI role reads them with its own rights, so the
row-level security policies below (one per base table the views read) limit it to its
granted workspaces, through the views and on the base tables alike. metricx itself connects
as the tables' owner, which row-level security does not restrict.

The measure columns are this revision's: a later measure reaches the views by a migration
that recreates them.

Revision ID: 3f8b2c6d9a41
Revises: 3f9a6c2e8d17
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "3f8b2c6d9a41"
down_revision: str | None = "3f9a6c2e8d17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, reporting group or None for a required measure) at this revision; reach is kept on
# facts only (not additive).
MEASURES: tuple[tuple[str, str | None], ...] = (
    ("spend", None),
    ("impressions", None),
    ("clicks", None),
    ("conversions", "conversions"),
    ("leads", "conversions"),
    ("purchases", "conversions"),
    ("purchase_value", "conversions"),
    ("link_clicks", "engagement"),
    ("outbound_clicks", "engagement"),
    ("landing_page_views", "engagement"),
    ("post_engagement", "engagement"),
    ("video_plays", "video"),
    ("thruplays", "video"),
    ("video_p25", "video"),
    ("video_p50", "video"),
    ("video_p75", "video"),
    ("video_p95", "video"),
    ("video_p100", "video"),
    ("video_watch_seconds", "video"),
    ("results", "results"),
)
LEVELS = ("account", "campaign", "adset", "ad")
# Tables the views read: the policy's column naming the workspace.
SECURED = {
    "metric_facts": "workspace_id",
    "metric_rollups": "workspace_id",
    "entities": "workspace_id",
    "connections": "workspace_id",
    "workspaces": "id",
}
GRANTED = "SELECT g.workspace_id FROM bi.workspace_grants g WHERE g.role_name = current_user"


def _hierarchy(levels: Sequence[str]) -> str:
    """Columns ``<level>_id``, ``<level>_external_id``, ``<level>_name`` for each level from
    the row's entity ``e`` and its ancestors ``p1``..``p3`` (null below the entity's level),
    plus the ad set's attribution setting."""

    def pick(level: str, column: str) -> str:
        whens = " ".join(
            f"WHEN {a}.level = '{level}' THEN {a}.{column}" for a in ("e", "p1", "p2", "p3")
        )
        return f"CASE {whens} END"

    cols = [
        f"{pick(level, col)} AS {level}_{alias}"
        for level in levels
        for col, alias in (("id", "id"), ("external_id", "external_id"), ("name", "name"))
    ]
    cols.append(f"{pick('adset', 'attribution_setting')} AS attribution_setting")
    return ",\n    ".join(cols)


ANCESTORS = """
    LEFT JOIN entities p1 ON p1.id = e.parent_id
    LEFT JOIN entities p2 ON p2.id = p1.parent_id
    LEFT JOIN entities p3 ON p3.id = p2.parent_id
    LEFT JOIN connections c ON c.id = e.connection_id
    JOIN workspaces w ON w.id = e.workspace_id"""


def _daily_facts() -> str:
    measures = ", ".join(f"f.{name}" for name, _ in MEASURES[:3])
    reported = ", ".join(f"f.{name}" for name, _ in MEASURES[3:])
    return f"""
CREATE VIEW bi.daily_facts WITH (security_invoker = true) AS
SELECT f.workspace_id,
    (f.event_at AT TIME ZONE coalesce(c.timezone, w.timezone))::date AS day,
    f.event_at,
    coalesce(c.timezone, w.timezone) AS timezone,
    f.provider, f.level, f.entity_id,
    e.external_id, e.name, e.status, e.effective_status,
    e.connection_id, c.external_account_id, c.name AS connection_name,
    {_hierarchy(LEVELS)},
    f.currency,
    {measures}, f.reach, {reported},
    f.updated_at
FROM metric_facts f
    JOIN entities e ON e.id = f.entity_id{ANCESTORS}
WHERE f.granularity = 'day'
"""


def _rollup_view(level: str) -> str:
    above = LEVELS[: LEVELS.index(level) + 1]
    measures = ", ".join(
        f"r.{name}"
        if group is None
        else f"CASE WHEN r.{group}_n = 0 THEN NULL ELSE r.{name} END AS {name}"
        for name, group in MEASURES
    )
    return f"""
CREATE VIEW bi.{level}_daily WITH (security_invoker = true) AS
SELECT r.workspace_id, r.day, r.event_at, r.zone AS timezone, r.provider,
    r.fact_level AS source_level,
    e.external_id, e.name, e.status, e.effective_status,
    e.connection_id, c.external_account_id, c.name AS connection_name,
    {_hierarchy(above)},
    r.currency, r.facts,
    {measures}
FROM metric_rollups r
    JOIN entities e ON e.id = r.entity_id{ANCESTORS}
WHERE r.granularity = 'day' AND r.level = '{level}' AND r.facts <> 0
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA bi")
    op.execute(
        """
CREATE TABLE bi.workspace_grants (
    role_name name NOT NULL,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role_name, workspace_id)
)"""
    )
    op.execute("ALTER TABLE bi.workspace_grants ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY own_grants ON bi.workspace_grants FOR SELECT"
        " USING (role_name = current_user)"
    )
    for table, column in SECURED.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY bi_granted_workspaces ON {table} FOR SELECT"
            f" USING ({column} IN ({GRANTED}))"
        )
    op.execute(_daily_facts())
    op.execute(
        "CREATE VIEW bi.ad_daily WITH (security_invoker = true) AS"
        " SELECT * FROM bi.daily_facts WHERE level = 'ad'"
    )
    for level in ("adset", "campaign", "account"):
        op.execute(_rollup_view(level))


def downgrade() -> None:
    op.execute("DROP SCHEMA bi CASCADE")
    for table in SECURED:
        op.execute(f"DROP POLICY IF EXISTS bi_granted_workspaces ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
