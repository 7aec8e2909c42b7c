"""Alembic environment: the database comes from the caller (``metricx db``) or the settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import context
from sqlalchemy import Connection, pool

import metricx.facts.tables
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


def number_new_revision(_context: Any, _revision: Any, _directives: Any) -> None:
    """A new migration's file is ``NNNN_<slug>.py``, the number after the highest one in
    versions/, so the file names sort in the order the chain runs. Alembic's file_template has
    no counter, so the template is set here, just before Alembic names the file."""
    numbers = [
        int(m.group(1))
        for path in Path(context.script.versions).glob("*.py")
        if (m := re.match(r"(\d{4})_", path.name))
    ]
    context.script.file_template = f"{max(numbers, default=0) + 1:04d}_%(slug)s"


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        process_revision_directives=number_new_revision,
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
