"""bi: breakdowns and creatives for BI tools

``bi.ad_breakdowns_daily``: every breakdown fact (ad, local day, breakdown set and value) with
the ad's names and hierarchy; ``bi.creatives``: each creative's texts, link, UTM fields and
media; ``bi.ad_creatives``: which ad carries which creative. Row-level security on the tables
they read, as for the other views, and the roles already granted may read them.

Revision ID: 5c4a2d9f7e10
Revises: 5c3f1b8e2d40
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "5c4a2d9f7e10"
down_revision: str | None = "5c3f1b8e2d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECURED = ("breakdown_facts", "creatives", "ad_creatives")
GRANTED = "SELECT g.workspace_id FROM bi.workspace_grants g WHERE g.role_name = current_user"

BREAKDOWNS_VIEW = """
CREATE VIEW bi.ad_breakdowns_daily WITH (security_invoker = true) AS
SELECT f.workspace_id, f.day, coalesce(c.timezone, w.timezone) AS timezone,
    f.breakdown, f.key1 AS value1, nullif(f.key2, '') AS value2,
    f.entity_id AS ad_id, a.external_id AS ad_external_id, a.name AS ad_name,
    s.id AS adset_id, s.external_id AS adset_external_id, s.name AS adset_name,
    cp.id AS campaign_id, cp.external_id AS campaign_external_id, cp.name AS campaign_name,
    acc.id AS account_id, acc.external_id AS account_external_id, acc.name AS account_name,
    s.attribution_setting,
    a.connection_id, c.external_account_id, c.name AS connection_name,
    f.currency, f.spend, f.impressions, f.clicks, f.link_clicks, f.reach,
    f.conversions, f.leads, f.purchases, f.purchase_value, f.results,
    f.updated_at
FROM breakdown_facts f
    JOIN entities a ON a.id = f.entity_id
    LEFT JOIN entities s ON s.id = a.parent_id
    LEFT JOIN entities cp ON cp.id = s.parent_id
    LEFT JOIN entities acc ON acc.id = cp.parent_id
    LEFT JOIN connections c ON c.id = a.connection_id
    JOIN workspaces w ON w.id = f.workspace_id
"""
CREATIVES_VIEW = """
CREATE VIEW bi.creatives WITH (security_invoker = true) AS
SELECT workspace_id, external_id AS creative_id, connection_id, account_external_id, name,
    status, title, body, call_to_action, link_url, url_tags, utm_source, utm_medium,
    utm_campaign, utm_content, utm_term, object_type, image_hash, video_id,
    thumbnail_sha256 IS NOT NULL AS has_thumbnail, created_time, removed_at
FROM creatives
"""
AD_CREATIVES_VIEW = """
CREATE VIEW bi.ad_creatives WITH (security_invoker = true) AS
SELECT workspace_id, ad_external_id, creative_external_id AS creative_id, connection_id
FROM ad_creatives
"""


def upgrade() -> None:
    for table in SECURED:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY bi_granted_workspaces ON {table} FOR SELECT"
            f" USING (workspace_id IN ({GRANTED}))"
        )
    op.execute(BREAKDOWNS_VIEW)
    op.execute(CREATIVES_VIEW)
    op.execute(AD_CREATIVES_VIEW)
    # Roles granted before this revision: the new tables, as `metricx bi grant-role` grants.
    op.execute(
        f"""
DO $$
DECLARE r name;
BEGIN
  FOR r IN SELECT DISTINCT role_name FROM bi.workspace_grants LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('GRANT SELECT ON {", ".join(SECURED)} TO %I', r);
      EXECUTE format('GRANT SELECT ON bi.ad_breakdowns_daily, bi.creatives, bi.ad_creatives'
                     ' TO %I', r);
    END IF;
  END LOOP;
END
$$"""
    )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS bi.ad_creatives")
    op.execute("DROP VIEW IF EXISTS bi.creatives")
    op.execute("DROP VIEW IF EXISTS bi.ad_breakdowns_daily")
    for table in SECURED:
        op.execute(f"DROP POLICY IF EXISTS bi_granted_workspaces ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
