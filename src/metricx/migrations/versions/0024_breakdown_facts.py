"""breakdown facts: Ads Manager's Breakdown menu (age, gender, country, region, placement,
device), their rollups, and each connection's chosen breakdown sets

``breakdown_facts``: one row per ad, account-local day, breakdown set and value (``key1``, and
``key2`` for two-field sets such as age x gender; '' otherwise). Daily grain only. Partitioned
by month on ``day`` like action_facts, with a default partition for a month that has none yet.
``breakdown_rollups``: the same rows summed per ad set, campaign and account and day
(``span`` 1) and Monday-to-Sunday week (``span`` 7, ``day`` its Monday), so a workspace's 30
days answer from a few thousand rows. ``connections.breakdown_sets``: the sets a
connection syncs (NULL = the defaults, empty = none).

Revision ID: 5c3f1b8e2d40
Revises: 5c1e9a7d3b20
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5c3f1b8e2d40"
down_revision: str | None = "5c1e9a7d3b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(precision=18, scale=6)
COUNT = sa.Numeric(precision=18, scale=4)

ENSURE_BREAKDOWN_PARTITION_SQL = """
CREATE OR REPLACE FUNCTION metricx_ensure_breakdown_partition(p_month date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  start_d date := date_trunc('month', p_month)::date;
  end_d date := (date_trunc('month', p_month) + interval '1 month')::date;
  part text := 'breakdown_facts_p' || to_char(p_month, 'YYYY_MM');
BEGIN
  IF to_regclass(part) IS NOT NULL THEN
    RETURN false;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('metricx_fact_partitions'));
  IF to_regclass(part) IS NOT NULL THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM breakdown_facts_default WHERE day >= start_d AND day < end_d) THEN
    EXECUTE format('CREATE TABLE %I (LIKE breakdown_facts '
                   'INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format('WITH moved AS (DELETE FROM breakdown_facts_default WHERE day >= %L '
                   'AND day < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                   start_d, end_d, part);
    EXECUTE format('ALTER TABLE breakdown_facts ATTACH PARTITION %I '
                   'FOR VALUES FROM (%L) TO (%L)', part, start_d, end_d);
  ELSE
    EXECUTE format('CREATE TABLE %I PARTITION OF breakdown_facts '
                   'FOR VALUES FROM (%L) TO (%L)', part, start_d, end_d);
  END IF;
  RETURN true;
END
$$;
"""


def _measures(*, rollup: bool) -> list[sa.Column[Any]]:
    """Facts keep null for "not reported"; rollups sum to 0 and count the rows that reported."""
    nullable = not rollup
    default = "0" if rollup else None
    columns: list[sa.Column[Any]] = [
        sa.Column("spend", MONEY, nullable=False, server_default="0"),
        sa.Column("impressions", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("clicks", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("link_clicks", sa.BigInteger(), nullable=nullable, server_default=default),
    ]
    if not rollup:  # reach is never summed
        columns.append(sa.Column("reach", sa.BigInteger(), nullable=True))
    columns += [
        sa.Column("conversions", COUNT, nullable=nullable, server_default=default),
        sa.Column("leads", COUNT, nullable=nullable, server_default=default),
        sa.Column("purchases", COUNT, nullable=nullable, server_default=default),
        sa.Column("purchase_value", MONEY, nullable=nullable, server_default=default),
        sa.Column("results", COUNT, nullable=nullable, server_default=default),
    ]
    return columns


def upgrade() -> None:
    op.create_table(
        "breakdown_facts",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("breakdown", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key1", sa.String(length=100), nullable=False),
        sa.Column("key2", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *_measures(rollup=False),
        sa.Column("fetch_id", sa.UUID(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "entity_id"],
            ["entities.workspace_id", "entities.id"],
            name="fk_breakdown_facts_entity_id_entities",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "spend >= 0 AND impressions >= 0 AND clicks >= 0",
            name=op.f("ck_breakdown_facts_measures_not_negative"),
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id",
            "breakdown",
            "entity_id",
            "day",
            "key1",
            "key2",
            name=op.f("pk_breakdown_facts"),
        ),
        postgresql_partition_by="RANGE (day)",
    )
    op.execute("CREATE TABLE breakdown_facts_default PARTITION OF breakdown_facts DEFAULT")
    op.execute(ENSURE_BREAKDOWN_PARTITION_SQL)
    op.execute(
        "SELECT metricx_ensure_breakdown_partition((date_trunc('month', now() AT TIME ZONE 'UTC')"
        " + make_interval(months => m))::date) FROM generate_series(-2, 3) AS m"
    )

    op.create_table(
        "breakdown_rollups",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("breakdown", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("span", sa.SmallInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("entity_id", sa.UUID(), nullable=False),
        sa.Column("key1", sa.String(length=100), nullable=False),
        sa.Column("key2", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("facts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("link_n", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("conversions_n", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("results_n", sa.Integer(), nullable=False, server_default="0"),
        *_measures(rollup=True),
        sa.ForeignKeyConstraint(
            ["workspace_id", "entity_id"],
            ["entities.workspace_id", "entities.id"],
            name="fk_breakdown_rollups_entity_id_entities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id",
            "breakdown",
            "level",
            "span",
            "day",
            "entity_id",
            "key1",
            "key2",
            "currency",
            name=op.f("pk_breakdown_rollups"),
        ),
    )
    op.create_index(
        "ix_breakdown_rollups_entity",
        "breakdown_rollups",
        ["workspace_id", "breakdown", "level", "span", "entity_id", "day"],
    )
    op.add_column(
        "connections",
        sa.Column("breakdown_sets", postgresql.ARRAY(sa.String(length=32)), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("connections", "breakdown_sets")
    op.drop_index("ix_breakdown_rollups_entity", table_name="breakdown_rollups")
    op.drop_table("breakdown_rollups")
    op.execute("DROP FUNCTION IF EXISTS metricx_ensure_breakdown_partition(date)")
    op.drop_table("breakdown_facts")
