"""Conversions: a workspace's named conversions (create, change, remove, list), Meta's custom
conversions as synced, and the action types seen in a workspace's facts, named.

A named conversion counts a set of action types and custom conversions (summed) and takes its
value from Meta's action values, from nowhere, or as a fixed value per conversion; the query
API uses it as a measure (``conversion=<name>``: count, value, cost per, ROAS).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from metricx.conversions import repository
from metricx.conversions.schemas import ConversionCreate, ConversionUpdate
from metricx.errors import Conflict, InvalidInput, NotFound
from metricx.integrations.meta.action_rows import (
    CustomConversionRecord,
    custom_action_id,
    custom_action_type,
)
from metricx.models import Connection, CustomConversion, WorkspaceConversion


@dataclass(frozen=True)
class ConversionDefinition:
    """A named conversion as the query layer uses it."""

    name: str
    action_types: tuple[str, ...]  # every counted type, custom conversions' included
    value_source: str
    fixed_value: Decimal | None


def counted_types(row: WorkspaceConversion) -> list[str]:
    types = list(
        dict.fromkeys([*row.action_types, *map(custom_action_type, row.custom_conversion_ids)])
    )
    return types


def definition(row: WorkspaceConversion) -> ConversionDefinition:
    return ConversionDefinition(
        name=row.name,
        action_types=tuple(counted_types(row)),
        value_source=row.value_source,
        fixed_value=row.fixed_value,
    )


def list_conversions(session: Session, *, workspace_id: uuid.UUID) -> list[WorkspaceConversion]:
    return repository.conversions(session, workspace_id)


def get_conversion(
    session: Session, *, workspace_id: uuid.UUID, conversion_id: uuid.UUID
) -> WorkspaceConversion:
    row = repository.conversion(session, workspace_id, conversion_id)
    if row is None:
        raise NotFound("no such conversion in this workspace", details={"field": "conversion_id"})
    return row


def conversion_by_name(
    session: Session, *, workspace_id: uuid.UUID, name: str
) -> ConversionDefinition:
    """The named conversion for a query; 422 naming the field when there is none."""
    row = repository.conversion_named(session, workspace_id, name)
    if row is None:
        known = [r.name for r in repository.conversions(session, workspace_id)]
        raise InvalidInput(
            f"no conversion named {name!r} in this workspace"
            + (f"; known: {', '.join(known)}" if known else "; create one first"),
            details={"field": "conversion"},
        )
    return definition(row)


def _check(
    session: Session,
    workspace_id: uuid.UUID,
    *,
    name: str,
    action_types: list[str],
    custom_ids: list[str],
    value_source: str,
    fixed_value: Decimal | None,
    exclude: uuid.UUID | None = None,
) -> None:
    if not action_types and not custom_ids:
        raise InvalidInput(
            "a conversion counts at least one action type or custom conversion",
            details={"field": "action_types"},
        )
    for i, t in enumerate(action_types):
        if custom_action_id(t) is not None:
            raise InvalidInput(
                f"name custom conversions by id in custom_conversion_ids, not as {t!r}",
                details={"field": f"action_types[{i}]"},
            )
    if value_source == "fixed" and fixed_value is None:
        raise InvalidInput("value_source fixed needs fixed_value", details={"field": "fixed_value"})
    if value_source != "fixed" and fixed_value is not None:
        raise InvalidInput(
            "fixed_value is only for value_source fixed", details={"field": "fixed_value"}
        )
    if custom_ids:
        known = {
            c.external_id
            for c in repository.custom_conversions(session, workspace_id, ids=custom_ids)
        }
        for i, cid in enumerate(custom_ids):
            if cid not in known:
                raise InvalidInput(
                    f"no custom conversion {cid} in this workspace's ad accounts (synced with "
                    "the entities)",
                    details={"field": f"custom_conversion_ids[{i}]"},
                )
    other = repository.conversion_named(session, workspace_id, name)
    if other is not None and other.id != exclude:
        raise Conflict(
            f"a conversion named {name!r} exists", code="name_taken", details={"field": "name"}
        )


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def create_conversion(
    session: Session, *, workspace_id: uuid.UUID, body: ConversionCreate
) -> WorkspaceConversion:
    name = body.name.strip()
    types, ids = _unique(body.action_types), _unique(body.custom_conversion_ids)
    _check(
        session,
        workspace_id,
        name=name,
        action_types=types,
        custom_ids=ids,
        value_source=body.value_source,
        fixed_value=body.fixed_value,
    )
    row = WorkspaceConversion(
        workspace_id=workspace_id,
        name=name,
        action_types=types,
        custom_conversion_ids=ids,
        value_source=body.value_source,
        fixed_value=body.fixed_value,
    )
    session.add(row)
    session.flush()
    return row


def update_conversion(
    session: Session, *, workspace_id: uuid.UUID, conversion_id: uuid.UUID, body: ConversionUpdate
) -> WorkspaceConversion:
    row = get_conversion(session, workspace_id=workspace_id, conversion_id=conversion_id)
    given = body.model_fields_set
    name = body.name.strip() if body.name is not None else row.name
    types = _unique(body.action_types) if body.action_types is not None else row.action_types
    ids = (
        _unique(body.custom_conversion_ids)
        if body.custom_conversion_ids is not None
        else row.custom_conversion_ids
    )
    source = body.value_source or row.value_source
    fixed = body.fixed_value if "fixed_value" in given else row.fixed_value
    if "value_source" in given and source != "fixed" and "fixed_value" not in given:
        fixed = None
    _check(
        session,
        workspace_id,
        name=name,
        action_types=list(types),
        custom_ids=list(ids),
        value_source=source,
        fixed_value=fixed,
        exclude=row.id,
    )
    row.name, row.action_types, row.custom_conversion_ids = name, list(types), list(ids)
    row.value_source, row.fixed_value = source, fixed
    session.flush()
    return row


def delete_conversion(
    session: Session, *, workspace_id: uuid.UUID, conversion_id: uuid.UUID
) -> None:
    row = get_conversion(session, workspace_id=workspace_id, conversion_id=conversion_id)
    session.delete(row)
    session.flush()


def list_custom_conversions(session: Session, *, workspace_id: uuid.UUID) -> list[CustomConversion]:
    return repository.custom_conversions(session, workspace_id)


def store_custom_conversions(
    session: Session,
    *,
    connection: Connection,
    records: Iterable[CustomConversionRecord],
    now: datetime,
) -> int:
    """Insert or update the custom conversions an entity sync of ``connection`` fetched (a
    conversion Meta stops listing keeps its row: its past actions still need its name)."""
    rows = [
        {
            "workspace_id": connection.workspace_id,
            "external_id": r.external_id,
            "connection_id": connection.id,
            "account_external_id": r.account_external_id,
            "name": r.name,
            "custom_event_type": r.custom_event_type,
            "rule": r.rule,
            "is_archived": r.is_archived,
            "is_unavailable": r.is_unavailable,
            "default_conversion_value": r.default_conversion_value,
            "creation_time": r.creation_time,
            "updated_at": now,
        }
        for r in records
    ]
    return repository.upsert_custom_conversions(session, rows)


@dataclass(frozen=True)
class SeenActionType:
    action_type: str
    name: str
    custom_conversion_id: str | None
    ad_days: int
    newest_day: date


def action_type_names(session: Session, *, workspace_id: uuid.UUID) -> dict[str, str]:
    """``offsite_conversion.custom.<id>`` -> the custom conversion's name."""
    return {
        custom_action_type(cid): name
        for cid, name in repository.custom_conversion_names(session, workspace_id).items()
    }


def seen_action_types(session: Session, *, workspace_id: uuid.UUID) -> list[SeenActionType]:
    """Every action type the workspace's action facts have, custom conversions named."""
    names = action_type_names(session, workspace_id=workspace_id)
    return [
        SeenActionType(
            action_type=t,
            name=names.get(t, t),
            custom_conversion_id=custom_action_id(t),
            ad_days=n,
            newest_day=newest,
        )
        for t, n, newest in repository.seen_action_types(session, workspace_id)
    ]
