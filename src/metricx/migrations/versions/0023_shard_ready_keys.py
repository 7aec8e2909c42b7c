"""keys: the workspace in every primary key, unique key and reference of tenant data

Every tenant table's primary key, unique constraints and foreign keys now carry
``workspace_id``, so the tables can be distributed by workspace (docs/scaling.md). A table
keyed by ``id`` is keyed by (id, workspace_id): ``id`` first, so lookups by id alone stay
index probes. A reference between tenant tables is (workspace_id, x_id) -> (workspace_id, id):
a row can only point into its own workspace. ``SET NULL`` references clear only their own
column. metric_facts' key becomes (natural_key, event_at, workspace_id): the ingest merge
probes it by natural key and time, as before.

Runs on a populated database: rows already agree on their workspace (the app writes them so;
a row that does not makes the new foreign key fail, naming it). Alerts without a workspace
(none is ever written) are deleted: the key cannot hold them.

Revision ID: 5c1e9a7d3b20
Revises: 5c2e9a7d1b60
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "5c1e9a7d3b20"
down_revision: str | None = "5c2e9a7d1b60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables keyed by ``id`` alone before.
ID_TABLES = (
    "memberships",
    "api_keys",
    "tokens",
    "connections",
    "entities",
    "fetches",
    "imports",
    "failed_records",
    "alerts",
    "quality_findings",
    "workspace_conversions",
    "oauth_states",
    "oauth_grants",
    "notification_channels",
    "notification_deliveries",
    "report_schedules",
    "report_deliveries",
    "saved_views",
)

# (table, column, referred table, ON DELETE): each becomes (workspace_id, column) ->
# referred (workspace_id, id).
REFERENCES = (
    ("connections", "token_id", "tokens", "SET NULL"),
    ("entities", "connection_id", "connections", "SET NULL"),
    ("entities", "parent_id", "entities", "SET NULL"),
    ("fetches", "connection_id", "connections", "CASCADE"),
    ("imports", "connection_id", "connections", "SET NULL"),
    ("imports", "fetch_id", "fetches", "SET NULL"),
    ("failed_records", "import_id", "imports", "CASCADE"),
    ("failed_records", "replayed_import_id", "imports", "SET NULL"),
    ("alerts", "connection_id", "connections", "CASCADE"),
    ("quality_findings", "connection_id", "connections", "CASCADE"),
    ("quality_findings", "entity_id", "entities", "CASCADE"),
    ("quality_entity_parents", "entity_id", "entities", "CASCADE"),
    ("oauth_states", "reconnect_connection_id", "connections", "CASCADE"),
    ("oauth_grants", "token_id", "tokens", "CASCADE"),
    ("oauth_grants", "reconnect_connection_id", "connections", "CASCADE"),
    ("notification_deliveries", "alert_id", "alerts", "CASCADE"),
    ("notification_deliveries", "channel_id", "notification_channels", "CASCADE"),
    ("report_schedules", "channel_id", "notification_channels", "CASCADE"),
    ("report_deliveries", "schedule_id", "report_schedules", "CASCADE"),
    ("custom_conversions", "connection_id", "connections", "SET NULL"),
    ("creatives", "connection_id", "connections", "SET NULL"),
    ("ad_creatives", "connection_id", "connections", "SET NULL"),
    ("reach_ranges", "entity_id", "entities", "CASCADE"),
    ("metric_facts", "entity_id", "entities", "CASCADE"),
    ("action_facts", "entity_id", "entities", "CASCADE"),
)

# (table, old name, old columns, new name, new columns)
UNIQUES = (
    (
        "api_keys",
        "uq_api_keys_key_hash",
        "key_hash",
        "uq_api_keys_key_hash_workspace_id",
        "key_hash, workspace_id",
    ),
    (
        "notification_deliveries",
        "uq_notification_deliveries_alert_id_channel_id_event",
        "alert_id, channel_id, event",
        "uq_notification_deliveries_workspace_alert_channel_event",
        "workspace_id, alert_id, channel_id, event",
    ),
    (
        "report_deliveries",
        "uq_report_deliveries_schedule_id_period_start_period_end",
        "schedule_id, period_start, period_end",
        "uq_report_deliveries_workspace_schedule_period",
        "workspace_id, schedule_id, period_start, period_end",
    ),
)

# (table, old key, new key) besides ID_TABLES'
KEYS = (
    ("quality_entity_parents", "entity_id", "entity_id, workspace_id"),
    ("metric_facts", "natural_key, event_at", "natural_key, event_at, workspace_id"),
)


def _fk_name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def _set_key(table: str, columns: str) -> None:
    op.execute(
        f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
        f"ADD CONSTRAINT pk_{table} PRIMARY KEY ({columns})"
    )


def upgrade() -> None:
    op.execute("DELETE FROM alerts WHERE workspace_id IS NULL")
    op.execute("ALTER TABLE alerts ALTER COLUMN workspace_id SET NOT NULL")
    for table, column, referred, _ in REFERENCES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_fk_name(table, column, referred)}")
    for table in ID_TABLES:
        _set_key(table, "id, workspace_id")
    for table, _, new in KEYS:
        _set_key(table, new)
    for table, old_name, _, new_name, new_columns in UNIQUES:
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT {old_name}, "
            f"ADD CONSTRAINT {new_name} UNIQUE ({new_columns})"
        )
    for table, column, referred, ondelete in REFERENCES:
        action = f"SET NULL ({column})" if ondelete == "SET NULL" else ondelete
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {_fk_name(table, column, referred)} "
            f"FOREIGN KEY (workspace_id, {column}) REFERENCES {referred} (workspace_id, id) "
            f"ON DELETE {action}"
        )


def downgrade() -> None:
    for table, column, referred, _ in REFERENCES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_fk_name(table, column, referred)}")
    for table, old_name, old_columns, new_name, _ in UNIQUES:
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT {new_name}, "
            f"ADD CONSTRAINT {old_name} UNIQUE ({old_columns})"
        )
    for table, old, _ in KEYS:
        _set_key(table, old)
    for table in ID_TABLES:
        _set_key(table, "id")
    op.execute("ALTER TABLE alerts ALTER COLUMN workspace_id DROP NOT NULL")
    for table, column, referred, ondelete in REFERENCES:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {_fk_name(table, column, referred)} "
            f"FOREIGN KEY ({column}) REFERENCES {referred} (id) ON DELETE {ondelete}"
        )
