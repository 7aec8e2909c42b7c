"""Data quality of a workspace: the validation findings, and validating a connection now."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from metricx.auth.dependencies import DbSession, RuntimeDep, WorkspaceIngester, WorkspaceReader
from metricx.errors import Forbidden, NotFound, Unauthorized, error_responses
from metricx.kit.inputs import IsoDateTime
from metricx.quality import repository, service
from metricx.quality.schemas import (
    FindingList,
    FindingRead,
    UnlistedAdList,
    UnlistedAdRead,
    ValidationRunRead,
)

router = APIRouter(tags=["quality"])
BASE = "/workspaces/{workspace_id}"
ERRORS = error_responses(Unauthorized, Forbidden, NotFound)


@router.get(BASE + "/quality/findings", response_model=FindingList, responses=ERRORS)
def list_findings(
    access: WorkspaceReader,
    session: DbSession,
    connection_id: Annotated[uuid.UUID | None, Query(description="Only this connection.")] = None,
    kind: Annotated[
        str | None, Query(description="Only this kind (e.g. hourly_vs_daily, spend_jump).")
    ] = None,
    since: Annotated[IsoDateTime | None, Query(description="Only findings seen since.")] = None,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> FindingList:
    """Validation findings, most recently seen first. Each names the entity, the period
    (``period_start``/``period_end``, UTC) and the numbers (expected, actual, difference).
    Kinds: ``hourly_vs_daily``, ``level_total_mismatch`` (ad sums vs Meta's ad set, campaign
    or account totals), ``unknown_entity_facts``, ``orphaned_entity``, ``entity_moved``,
    ``missing_hours``, ``new_entity_without_data``, ``spend_jump``, ``spend_collapse``,
    ``impressions_jump``, ``impressions_collapse``, ``clicks_over_impressions``,
    ``spend_without_impressions``. A finding is resolved when a later validation no longer
    finds it. Validation runs after each sync and every few hours."""
    rows = service.list_findings(
        session,
        workspace_id=access.workspace.id,
        connection_id=connection_id,
        kind=kind,
        since=since,
        status=status,
        limit=limit,
    )
    return FindingList(findings=[FindingRead.model_validate(r) for r in rows])


@router.get(BASE + "/quality/unlisted-ads", response_model=UnlistedAdList, responses=ERRORS)
def list_unlisted_ads(
    access: WorkspaceReader,
    session: DbSession,
    connection_id: Annotated[uuid.UUID | None, Query(description="Only this connection.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> UnlistedAdList:
    """Ads known only from insights: Meta reported their delivery before its list of ads
    included them. Their facts are stored and counted under the ad set, campaign and account
    their insights named; the next entity sync that lists them gives them their name and
    status, and they leave this list. Per connection, the biggest spenders first."""
    ads = service.unlisted_ads(
        session, workspace_id=access.workspace.id, connection_id=connection_id, limit=limit
    )
    return UnlistedAdList(
        note=service.UNLISTED_ADS_NOTE, ads=[UnlistedAdRead.model_validate(a) for a in ads]
    )


@router.post(
    BASE + "/connections/{connection_id}/validate",
    response_model=ValidationRunRead,
    responses=ERRORS,
)
def validate_connection(
    connection_id: uuid.UUID,
    access: WorkspaceIngester,
    session: DbSession,
    runtime: RuntimeDep,
) -> ValidationRunRead:
    """Validate the connection now over its recent complete days (``quality_window_days``),
    including Meta's own level totals when the connection can reach Meta; answers what this
    run found, opened and resolved."""
    connection = repository.connection_in(session, access.workspace.id, connection_id)
    if connection is None:
        raise NotFound("no such connection")
    meta = service.meta_totals_for(
        session,
        settings=runtime.settings.interactive(),
        cipher=runtime.cipher,
        connection=connection,
    )
    result = service.validate_connection(
        session, settings=runtime.settings, connection=connection, meta=meta
    )
    return ValidationRunRead(
        connection_id=connection.id,
        since=result.window.since,
        until=result.window.until,
        checks=result.checks,
        skipped=result.skipped,
        new=result.new,
        resolved=result.resolved,
        alerted=result.alerted,
        findings=[FindingRead.model_validate(r) for r in result.findings],
    )
