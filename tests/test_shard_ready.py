"""Ready to shard: every key of tenant data carries the workspace.

Read from the migrated database's catalog (pg_constraint, pg_index), not from the models: a
table is distributable by workspace (Citus) only if its primary key, every unique constraint
or unique index and every foreign key include ``workspace_id``, and a reference between two
tenant tables goes through it ((workspace_id, x_id) -> (workspace_id, id)), so both rows live
on the same shard. A table that is not tenant data must be listed in ``REFERENCE`` with the
reason: a new table is tenant data until someone says otherwise.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

# Not tenant data: replicated to every node whole (a Citus "reference table") or local to the
# coordinator. A tenant table may reference these; they never reference tenant tables (but see
# REFERENCE_TO_TENANT).
REFERENCE = {
    "users": "people sign in once and belong to many workspaces",
    "user_sessions": "a user's browser sessions, across workspaces",
    "sign_in_failures": "throttling of sign-in attempts per e-mail, before any workspace",
    "fx_rates": "exchange rates: the operator's rows (no workspace) serve every workspace",
    "fact_archives": "the archive manifest: one file holds a month of all workspaces",
    "alembic_version": "the schema's revision",
}
REFERENCE_PREFIXES = {
    "procrastinate_": "the job queue: jobs of every workspace, polled by every worker",
}
# References from a reference table into tenant data, which Citus refuses: each has to go (or
# move) when the tables are distributed (docs/scaling.md).
REFERENCE_TO_TENANT = {
    ("fx_rates", "workspaces"): "a workspace's own rates are deleted with it",
}
# The distribution column of each tenant table: the workspace's id.
ROOT = "workspaces"  # keyed by its own id


def _is_reference(table: str) -> bool:
    return table in REFERENCE or any(table.startswith(p) for p in REFERENCE_PREFIXES)


def violations(conn: Connection) -> list[str]:
    """Every key of a tenant table that lacks the workspace, as readable lines."""
    # Partitions are checked as their partitioned table (their keys come from it).
    tables = dict(
        conn.execute(
            text(
                "SELECT c.oid, c.relname FROM pg_class c "
                "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') "
                "AND NOT c.relispartition"
            )
        ).all()
    )
    columns: dict[tuple[int, int], str] = {
        (rel, num): name
        for rel, num, name in conn.execute(
            text(
                "SELECT attrelid, attnum, attname FROM pg_attribute "
                "WHERE attnum > 0 AND NOT attisdropped AND attrelid = ANY(:oids)"
            ),
            {"oids": list(tables)},
        )
    }
    not_null = {
        (rel, name)
        for rel, name in conn.execute(
            text(
                "SELECT attrelid, attname FROM pg_attribute "
                "WHERE attnotnull AND attrelid = ANY(:oids)"
            ),
            {"oids": list(tables)},
        )
    }

    def key_column(table: str) -> str:
        return "id" if table == ROOT else "workspace_id"

    found: list[str] = []
    tenant = {oid: name for oid, name in tables.items() if not _is_reference(name)}
    for oid, name in sorted(tenant.items(), key=lambda t: t[1]):
        if (oid, key_column(name)) not in not_null:
            found.append(f"{name}: no NOT NULL {key_column(name)} (or list it in REFERENCE)")

    # Primary keys, unique constraints and unique indexes (partial ones too).
    for rel, index, keys, primary in conn.execute(
        text(
            "SELECT indrelid, indexrelid::regclass::text, indkey::int2[], indisprimary "
            "FROM pg_index WHERE indisunique AND indrelid = ANY(:oids)"
        ),
        {"oids": list(tenant)},
    ):
        table = tenant[rel]
        names = [columns.get((rel, k), "<expression>") for k in keys]
        if key_column(table) not in names:
            kind = "primary key" if primary else "unique index"
            found.append(f"{table}: {kind} {index} ({', '.join(names)}) lacks the workspace")
    for oid, name in tenant.items():
        has_pk = conn.execute(
            text("SELECT count(*) FROM pg_index WHERE indrelid = :oid AND indisprimary"),
            {"oid": oid},
        ).scalar_one()
        if not has_pk:
            found.append(f"{name}: no primary key")

    # Foreign keys, from either side.
    for rel, ref, con, keys, ref_keys in conn.execute(
        text(
            "SELECT conrelid, confrelid, conname, conkey, confkey FROM pg_constraint "
            "WHERE contype = 'f' AND (conrelid = ANY(:oids) OR confrelid = ANY(:oids)) "
            "AND conparentid = 0"
        ),
        {"oids": list(tables)},
    ):
        table, referred = tables.get(rel), tables.get(ref)
        if table is None or referred is None:
            continue
        names = [columns[(rel, k)] for k in keys]
        ref_names = [columns[(ref, k)] for k in ref_keys]
        pairs = dict(zip(names, ref_names, strict=True))
        if _is_reference(table):
            if referred in tenant and (table, referred) not in REFERENCE_TO_TENANT:
                found.append(f"{table}: {con} points into tenant data ({referred})")
            continue
        if _is_reference(referred):
            continue  # a distributed table may reference a reference table
        if pairs.get(key_column(table)) != key_column(referred):
            found.append(
                f"{table}: {con} ({', '.join(names)}) -> {referred} ({', '.join(ref_names)}) "
                "does not go through the workspace"
            )
    return sorted(found)


def test_every_key_of_tenant_data_carries_the_workspace(engine: Engine) -> None:
    with engine.connect() as conn:
        assert violations(conn) == []


def test_the_reference_tables_exist(engine: Engine) -> None:
    """A stale exemption would hide nothing, but says something false: keep the list true."""
    with engine.connect() as conn:
        names = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
        )
    assert set(REFERENCE) <= names
    assert all(any(n.startswith(p) for n in names) for p in REFERENCE_PREFIXES)


def test_the_check_sees_a_key_without_the_workspace(engine: Engine) -> None:
    """The catalog check itself: a table with each kind of fault is reported, each fault."""
    with engine.connect() as conn, conn.begin() as tx:
        conn.execute(
            text(
                "CREATE TABLE shard_probe (id uuid PRIMARY KEY, workspace_id uuid NOT NULL "
                "REFERENCES workspaces (id), name text UNIQUE, parent_id uuid "
                "REFERENCES shard_probe (id), user_id uuid REFERENCES users (id))"
            )
        )
        conn.execute(
            text("CREATE UNIQUE INDEX shard_probe_name_lower ON shard_probe (lower(name))")
        )
        conn.execute(text("CREATE TABLE shard_unlisted (id int PRIMARY KEY)"))
        conn.execute(
            text(
                "CREATE TABLE shard_child (workspace_id uuid NOT NULL, entity_id uuid, "
                "PRIMARY KEY (workspace_id, entity_id), "
                "FOREIGN KEY (entity_id, workspace_id) REFERENCES entities (id, workspace_id))"
            )
        )
        found = violations(conn)
        tx.rollback()
    assert found == [
        "shard_probe: primary key shard_probe_pkey (id) lacks the workspace",
        "shard_probe: shard_probe_parent_id_fkey (parent_id) -> shard_probe (id) "
        "does not go through the workspace",
        "shard_probe: unique index shard_probe_name_key (name) lacks the workspace",
        "shard_probe: unique index shard_probe_name_lower (<expression>) lacks the workspace",
        "shard_unlisted: no NOT NULL workspace_id (or list it in REFERENCE)",
        "shard_unlisted: primary key shard_unlisted_pkey (id) lacks the workspace",
    ]
