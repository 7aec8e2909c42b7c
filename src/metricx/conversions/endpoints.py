"""A workspace's conversions: its own named conversions (a set of action types and custom
conversions, usable as a measure in the query API), Meta's custom conversions and the action
types seen in its data."""

from __future__ import annotations

import uuid
from decimal import Decimal

from fastapi import APIRouter, Response

from metricx.auth.dependencies import DbSession, WorkspaceAdmin, WorkspaceReader
from metricx.conversions import service
from metricx.conversions.schemas import (
    ActionTypeList,
    ActionTypeRead,
    ConversionCreate,
    ConversionList,
    ConversionRead,
    ConversionUpdate,
    CustomConversionList,
    CustomConversionRead,
)
from metricx.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    error_responses,
)
from metricx.integrations.meta.action_rows import custom_action_type
from metricx.models import CustomConversion, WorkspaceConversion

router = APIRouter(tags=["conversions"])
BASE = "/workspaces/{workspace_id}/conversions"
ERRORS = error_responses(Unauthorized, Forbidden, NotFound)
WRITE_ERRORS = error_responses(Unauthorized, Forbidden, NotFound, InvalidInput, Conflict)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def read(row: WorkspaceConversion) -> ConversionRead:
    return ConversionRead(
        id=row.id,
        name=row.name,
        action_types=list(row.action_types),
        custom_conversion_ids=list(row.custom_conversion_ids),
        value_source=row.value_source,
        fixed_value=_money(row.fixed_value),
        counted_action_types=service.counted_types(row),
        created_at=row.created_at,
    )


def read_custom(row: CustomConversion) -> CustomConversionRead:
    return CustomConversionRead(
        id=row.external_id,
        action_type=custom_action_type(row.external_id),
        name=row.name,
        account_id=row.account_external_id,
        custom_event_type=row.custom_event_type,
        is_archived=row.is_archived,
        is_unavailable=row.is_unavailable,
        default_conversion_value=_money(row.default_conversion_value),
    )


@router.get(BASE, response_model=ConversionList, responses=ERRORS)
def list_conversions(access: WorkspaceReader, session: DbSession) -> ConversionList:
    """The workspace's named conversions, by name."""
    rows = service.list_conversions(session, workspace_id=access.workspace.id)
    return ConversionList(conversions=[read(r) for r in rows])


@router.post(BASE, status_code=201, response_model=ConversionRead, responses=WRITE_ERRORS)
def create_conversion(
    body: ConversionCreate, access: WorkspaceAdmin, session: DbSession
) -> ConversionRead:
    """Name a conversion: the action types and custom conversions it counts (summed) and its
    value source. Use it in the query API as ``conversion=<name>``. A name is unique in the
    workspace (409); custom conversion ids must be ones the entity sync found (422)."""
    row = service.create_conversion(session, workspace_id=access.workspace.id, body=body)
    return read(row)


@router.get(BASE + "/{conversion_id}", response_model=ConversionRead, responses=ERRORS)
def get_conversion(
    conversion_id: uuid.UUID, access: WorkspaceReader, session: DbSession
) -> ConversionRead:
    """One named conversion."""
    row = service.get_conversion(
        session, workspace_id=access.workspace.id, conversion_id=conversion_id
    )
    return read(row)


@router.patch(BASE + "/{conversion_id}", response_model=ConversionRead, responses=WRITE_ERRORS)
def update_conversion(
    conversion_id: uuid.UUID, body: ConversionUpdate, access: WorkspaceAdmin, session: DbSession
) -> ConversionRead:
    """Change a named conversion (only the fields given)."""
    row = service.update_conversion(
        session, workspace_id=access.workspace.id, conversion_id=conversion_id, body=body
    )
    return read(row)


@router.delete(BASE + "/{conversion_id}", status_code=204, responses=ERRORS)
def delete_conversion(
    conversion_id: uuid.UUID, access: WorkspaceAdmin, session: DbSession
) -> Response:
    """Remove a named conversion."""
    service.delete_conversion(
        session, workspace_id=access.workspace.id, conversion_id=conversion_id
    )
    return Response(status_code=204)


@router.get(
    "/workspaces/{workspace_id}/custom-conversions",
    response_model=CustomConversionList,
    responses=ERRORS,
)
def list_custom_conversions(access: WorkspaceReader, session: DbSession) -> CustomConversionList:
    """Meta's custom conversions of the workspace's ad accounts, as the entity sync found
    them; in the actions they are ``offsite_conversion.custom.<id>``."""
    rows = service.list_custom_conversions(session, workspace_id=access.workspace.id)
    return CustomConversionList(custom_conversions=[read_custom(r) for r in rows])


@router.get(
    "/workspaces/{workspace_id}/action-types", response_model=ActionTypeList, responses=ERRORS
)
def list_action_types(access: WorkspaceReader, session: DbSession) -> ActionTypeList:
    """Every action type the workspace's synced data has (custom conversions by name): what
    ``actions=`` of the query API and a named conversion can count."""
    rows = service.seen_action_types(session, workspace_id=access.workspace.id)
    return ActionTypeList(
        action_types=[
            ActionTypeRead(
                action_type=r.action_type,
                name=r.name,
                custom_conversion_id=r.custom_conversion_id,
                ad_days=r.ad_days,
                newest_day=r.newest_day,
            )
            for r in rows
        ]
    )
