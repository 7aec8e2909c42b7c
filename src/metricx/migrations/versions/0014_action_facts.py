"""action facts: every action type under every attribution window, custom conversions,
workspace conversions

``action_facts`` is the fact family of Meta's ``actions`` / ``action_values``: one row per ad,
local day, action type and window ('default' = the ad set's own attribution setting, or a
requested window such as '7d_click'). Partitioned by month on ``day`` like metric_facts, with
a default partition catching a month that has none yet (creating it later moves such rows out).
``custom_conversions`` names the ``offsite_conversion.custom.<id>`` action types;
``workspace_conversions`` are a workspace's own named conversions.

Revision ID: e24f530f50af
Revises: 6383f5f18f19
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e24f530f50af"
down_revision: str | None = "6383f5f18f19"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Monthly partitions action_facts_pYYYY_MM, each one calendar month of days; the same advisory
# lock as metric_facts' partitions makes concurrent callers safe.
ENSURE_ACTION_PARTITION_SQL = """
CREATE OR REPLACE FUNCTION metricx_ensure_action_partition(p_month date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  start_d date := date_trunc('month', p_month)::date;
  end_d date := (date_trunc('month', p_month) + interval '1 month')::date;
  part text := 'action_facts_p' || to_char(p_month, 'YYYY_MM');
BEGIN
  IF to_regclass(part) IS NOT NULL THEN
    RETURN false;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('metricx_fact_partitions'));
  IF to_regclass(part) IS NOT NULL THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM action_facts_default WHERE day >= start_d AND day < end_d) THEN
    EXECUTE format('CREATE TABLE %I (LIKE action_facts INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   part);
    EXECUTE format('WITH moved AS (DELETE FROM action_facts_default WHERE day >= %L '
                   'AND day < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                   start_d, end_d, part);
    EXECUTE format('ALTER TABLE action_facts ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, start_d, end_d);
  ELSE
    EXECUTE format('CREATE TABLE %I PARTITION OF action_facts FOR VALUES FROM (%L) TO (%L)',
                   part, start_d, end_d);
  END IF;
  RETURN true;
END
$$;
"""


def upgrade() -> None:
    op.create_table(
        "action_facts",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("entity_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("action_type", sa.String(length=200), nullable=False),
        sa.Column("window", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("value", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("attribution_setting", sa.String(length=64), nullable=True),
        sa.Column("fetch_id", sa.UUID(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name=op.f("fk_action_facts_entity_id_entities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id",
            "entity_id",
            "day",
            "action_type",
            "window",
            name=op.f("pk_action_facts"),
        ),
        postgresql_partition_by="RANGE (day)",
    )
    op.create_index(
        "ix_action_facts_workspace_id_day", "action_facts", ["workspace_id", "day"], unique=False
    )
    op.execute("CREATE TABLE action_facts_default PARTITION OF action_facts DEFAULT")
    op.execute(ENSURE_ACTION_PARTITION_SQL)
    op.execute(
        "SELECT metricx_ensure_action_partition((date_trunc('month', now() AT TIME ZONE 'UTC')"
        " + make_interval(months => m))::date) FROM generate_series(-2, 3) AS m"
    )

    op.create_table(
        "custom_conversions",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("connection_id", sa.UUID(), nullable=True),
        sa.Column("account_external_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("custom_event_type", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("is_archived", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("is_unavailable", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("default_conversion_value", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_custom_conversions_connection_id_connections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_custom_conversions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "external_id", name=op.f("pk_custom_conversions")),
    )
    op.create_index(
        op.f("ix_custom_conversions_connection_id"),
        "custom_conversions",
        ["connection_id"],
        unique=False,
    )

    op.create_table(
        "workspace_conversions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "action_types",
            postgresql.ARRAY(sa.String(length=200)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "custom_conversion_ids",
            postgresql.ARRAY(sa.String(length=64)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "value_source", sa.String(length=16), server_default="action_values", nullable=False
        ),
        sa.Column("fixed_value", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "value_source IN ('action_values', 'none', 'fixed')",
            name=op.f("ck_workspace_conversions_value_source_known"),
        ),
        sa.CheckConstraint(
            "(value_source = 'fixed') = (fixed_value IS NOT NULL)",
            name=op.f("ck_workspace_conversions_fixed_value_when_fixed"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_conversions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_conversions")),
        sa.UniqueConstraint(
            "workspace_id", "name", name=op.f("uq_workspace_conversions_workspace_id_name")
        ),
    )


def downgrade() -> None:
    op.drop_table("workspace_conversions")
    op.drop_index(op.f("ix_custom_conversions_connection_id"), table_name="custom_conversions")
    op.drop_table("custom_conversions")
    op.execute("DROP FUNCTION IF EXISTS metricx_ensure_action_partition(date)")
    op.drop_index("ix_action_facts_workspace_id_day", table_name="action_facts")
    op.drop_table("action_facts")
