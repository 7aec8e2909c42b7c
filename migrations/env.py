"""Alembic environment: the database comes from the caller (``metricx db``) or the settings."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, pool

import metricx.facts.tables  # noqa: F401  (registers the fact store's tables)
import metricx.models  # noqa: F401  (registers every other table)
from metricx.config import get_settings
from metricx.db import make_engine, resolve_database_url
from metricx.models.base import Base

target_metadata = Base.metadata


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Compare only metricx's own tables: not Procrastinate's, not fact partitions."""
    if type_ == "table":
        return name in target_metadata.tables
    return True


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        compare_type=True,
        compare_server_default=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    engine = make_engine(resolve_database_url(get_settings()), poolclass=pool.NullPool)
    with engine.connect() as conn:
        run_with(conn)


if context.is_offline_mode():
    raise SystemExit("metricx migrations run online only")
run_migrations_online()
