"""The declarative base: naming convention, UUID keys, timestamps."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import DateTime, Enum, ForeignKeyConstraint, MetaData, PrimaryKeyConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def tenant_pk() -> PrimaryKeyConstraint:
    """The primary key of a tenant table with an ``id``: (id, workspace_id). The workspace is
    in every key so the table can be distributed by workspace (docs/scaling.md); ``id`` comes
    first so a lookup by id alone stays an index probe. Pair with ``tenant_mapper_args()``: the
    ORM still identifies rows by ``id`` (a uuid4, unique on its own)."""
    return PrimaryKeyConstraint("id", "workspace_id")


def tenant_id() -> Mapped[uuid.UUID]:
    """The ``id`` of a tenant table: unique on its own, the key with the workspace."""
    return mapped_column(UUID(as_uuid=True), default=uuid.uuid4)


def tenant_mapper_args() -> dict[str, object]:
    """``__mapper_args__`` of a table keyed by ``tenant_pk``: ``session.get(Model, id)``."""
    return {"primary_key": ["id"]}


def tenant_fk(table: str, column: str, referred: str, ondelete: str) -> ForeignKeyConstraint:
    """A reference from one tenant table to another, through the workspace:
    (workspace_id, column) -> referred (workspace_id, id), so a row can only point into its
    own workspace and both rows live on the same shard. ``SET NULL`` clears ``column`` only
    (the workspace stays)."""
    return ForeignKeyConstraint(
        ["workspace_id", column],
        [f"{referred}.workspace_id", f"{referred}.id"],
        name=f"fk_{table}_{column}_{referred}",
        ondelete=f"SET NULL ({column})" if ondelete == "SET NULL" else ondelete,
    )


def created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def updated_at() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


def text_enum(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A varchar column with a CHECK of the enum's values: no PostgreSQL ENUM type to migrate."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


StrEnum = enum.StrEnum


class Provider(StrEnum):
    META = "meta"
    GOOGLE = "google"
    TIKTOK = "tiktok"
    LINKEDIN = "linkedin"
    OTHER = "other"


class Level(StrEnum):
    ACCOUNT = "account"
    CAMPAIGN = "campaign"
    ADSET = "adset"
    AD = "ad"


class Granularity(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
