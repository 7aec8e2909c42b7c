"""Read-only PostgreSQL roles that see one workspace: the ``bi`` schema's views and, under
row-level security, the base tables those views read (never another workspace's rows).

A role is cluster-wide in PostgreSQL; its grant (``bi.workspace_grants``) and privileges are
this database's. metricx itself must connect as the tables' owner (the role that ran
``metricx db upgrade``): row-level security does not apply to the owner nor to superusers,
and it would hide every row from any other role without a grant."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from metricx.errors import Conflict, InvalidInput, NotFound

# The tables the views read, with the columns a BI role may read (None: all). Secrets live
# elsewhere (tokens); connections and workspaces expose only what the views show.
BASE_TABLES: dict[str, tuple[str, ...] | None] = {
    "metric_facts": None,
    "metric_rollups": None,
    "entities": None,
    "connections": ("id", "workspace_id", "external_account_id", "name", "timezone"),
    "workspaces": ("id", "timezone"),
    "breakdown_facts": None,
    # The columns bi.creatives shows (not the thumbnails' source URLs nor fetch errors).
    "creatives": (
        "workspace_id",
        "provider",
        "external_id",
        "connection_id",
        "account_external_id",
        "name",
        "status",
        "title",
        "body",
        "call_to_action",
        "link_url",
        "url_tags",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "object_type",
        "image_hash",
        "video_id",
        "thumbnail_sha256",
        "created_time",
        "removed_at",
    ),
    "ad_creatives": None,
}
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class RoleGrant:
    role: str
    workspace_id: uuid.UUID
    created: bool  # the role was created by this call
    database: str


def valid_role_name(role: str) -> str:
    if not _ROLE_NAME.fullmatch(role) or role.startswith("pg_"):
        raise InvalidInput(
            f"role must be 1-63 lower-case letters, digits or _ (not starting with pg_ or a "
            f"digit), got {role!r}"
        )
    return role


def _quoted(session: Session, role: str) -> str:
    return str(session.execute(text("SELECT quote_ident(:r)"), {"r": role}).scalar_one())


def grant_workspace(
    session: Session, *, role: str, workspace_id: uuid.UUID, password: str | None = None
) -> RoleGrant:
    """Create ``role`` (LOGIN, read-only by default) unless it exists, and let it read
    ``workspace_id``'s rows through the ``bi`` views. A role may hold several workspaces."""
    valid_role_name(role)
    if password is not None and ("\x00" in password or not password):
        raise InvalidInput("the password must be non-empty and contain no NUL character")
    found = session.execute(
        text("SELECT 1 FROM workspaces WHERE id = :ws"), {"ws": workspace_id}
    ).first()
    if found is None:
        raise NotFound(f"no workspace {workspace_id}")
    row = session.execute(
        text(
            "SELECT rolsuper OR rolbypassrls, rolname = current_user,"
            " pg_has_role(oid, (SELECT relowner FROM pg_class"
            " WHERE oid = 'metric_facts'::regclass), 'USAGE')"
            " FROM pg_roles WHERE rolname = :r"
        ),
        {"r": role},
    ).first()
    if row is not None and (row[0] or row[1] or row[2]):
        # Row-level security does not bind superusers, BYPASSRLS roles, nor the tables'
        # owner and the roles that have its privileges.
        raise Conflict(
            f"role {role} bypasses row-level security here (superuser, BYPASSRLS, or "
            "metricx's own role): choose a new role name"
        )
    ident = _quoted(session, role)
    if row is None:
        session.execute(text(f"CREATE ROLE {ident} LOGIN NOINHERIT"))
    if password is not None:
        # Utility statements take no bind parameters: the literal is quoted by the server,
        # which stores it hashed (password_encryption); statement logging would show it.
        literal = session.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar_one()
        session.execute(text(f"ALTER ROLE {ident} PASSWORD {literal}"))
    database = str(session.execute(text("SELECT current_database()")).scalar_one())
    db_ident = _quoted(session, database)
    session.execute(
        text(f"ALTER ROLE {ident} IN DATABASE {db_ident} SET default_transaction_read_only = on")
    )
    session.execute(text(f"GRANT USAGE ON SCHEMA bi TO {ident}"))
    session.execute(text(f"GRANT USAGE ON SCHEMA public TO {ident}"))
    session.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA bi TO {ident}"))
    # Views a later migration (re)creates in bi are readable too, without granting again.
    session.execute(
        text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA bi GRANT SELECT ON TABLES TO {ident}")
    )
    for table, columns in BASE_TABLES.items():
        cols = f" ({', '.join(columns)})" if columns else ""
        session.execute(text(f"GRANT SELECT{cols} ON {table} TO {ident}"))
    session.execute(
        text(
            "INSERT INTO bi.workspace_grants (role_name, workspace_id) VALUES (:r, :ws)"
            " ON CONFLICT DO NOTHING"
        ),
        {"r": role, "ws": workspace_id},
    )
    return RoleGrant(role=role, workspace_id=workspace_id, created=row is None, database=database)


def revoke_workspace(
    session: Session, *, role: str, workspace_id: uuid.UUID | None = None, drop: bool = False
) -> list[uuid.UUID]:
    """Take ``workspace_id`` (default: every workspace) from ``role``. A role left without a
    workspace loses its privileges in this database; ``drop`` then drops the role itself
    (which fails while it holds privileges in another database). Returns what is left."""
    valid_role_name(role)
    exists = session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if exists is None:
        raise NotFound(f"no role {role}")
    session.execute(
        text(
            "DELETE FROM bi.workspace_grants WHERE role_name = :r"
            " AND (CAST(:ws AS uuid) IS NULL OR workspace_id = :ws)"
        ),
        {"r": role, "ws": workspace_id},
    )
    left = [
        r[0]
        for r in session.execute(
            text("SELECT workspace_id FROM bi.workspace_grants WHERE role_name = :r ORDER BY 1"),
            {"r": role},
        )
    ]
    if left:
        if drop:
            raise Conflict(f"role {role} still reads {len(left)} workspace(s): revoke them first")
        return left
    ident = _quoted(session, role)
    database = str(session.execute(text("SELECT current_database()")).scalar_one())
    session.execute(text(f"DROP OWNED BY {ident}"))  # its privileges in this database
    session.execute(text(f"ALTER ROLE {ident} IN DATABASE {_quoted(session, database)} RESET ALL"))
    if drop:
        session.execute(text(f"DROP ROLE {ident}"))
    return left


def grants(session: Session) -> list[tuple[str, uuid.UUID]]:
    rows = session.execute(
        text("SELECT role_name, workspace_id FROM bi.workspace_grants ORDER BY 1, 2")
    ).all()
    return [(str(r[0]), r[1]) for r in rows]
