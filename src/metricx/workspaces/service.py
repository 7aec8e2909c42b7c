"""Workspaces and who belongs to them."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from metricx.auth import repository as users
from metricx.errors import InvalidInput, NotFound
from metricx.facts import rollups
from metricx.ingest.currencies import is_known_currency
from metricx.kit.tz import is_valid_timezone
from metricx.metrics.calendar import WEEKDAYS
from metricx.models import Membership, Role, Workspace
from metricx.workspaces import repository


def create_workspace(
    session: Session,
    *,
    name: str,
    owner_id: uuid.UUID,
    timezone: str = "UTC",
    week_start: str = "monday",
) -> Workspace:
    name = name.strip()
    if not name:
        raise InvalidInput("a workspace needs a name", details={"field": "name"})
    if not is_valid_timezone(timezone):
        raise InvalidInput(
            f"unknown time zone {timezone!r}; use an IANA name such as Europe/Berlin",
            details={"field": "timezone"},
        )
    if users.user_by_id(session, owner_id) is None:
        raise NotFound("no such user")
    ws = Workspace(name=name, timezone=timezone, week_start=_week_start(week_start))
    session.add(ws)
    session.flush()
    session.add(Membership(workspace_id=ws.id, user_id=owner_id, role=Role.OWNER))
    session.flush()
    return ws


def add_member(
    session: Session, *, workspace_id: uuid.UUID, user_id: uuid.UUID, role: Role = Role.MEMBER
) -> Membership:
    existing = users.membership(session, workspace_id, user_id)
    if existing is not None:
        existing.role = role
        return existing
    m = Membership(workspace_id=workspace_id, user_id=user_id, role=role)
    session.add(m)
    session.flush()
    return m


def _week_start(value: str) -> str:
    if value not in WEEKDAYS:
        raise InvalidInput(
            f"week_start must be one of {', '.join(WEEKDAYS)}", details={"field": "week_start"}
        )
    return value


def update_workspace(
    session: Session,
    *,
    workspace: Workspace,
    name: str | None,
    timezone: str | None,
    week_start: str | None = None,
    reporting_currency: str | None = None,
) -> Workspace:
    if name is not None:
        if not name.strip():
            raise InvalidInput("a workspace needs a name", details={"field": "name"})
        workspace.name = name.strip()
    if timezone is not None:
        if not is_valid_timezone(timezone):
            raise InvalidInput(f"unknown time zone {timezone!r}", details={"field": "timezone"})
        if timezone != workspace.timezone:
            workspace.timezone = timezone
            # Facts pushed without a connection are on the workspace's calendar: their
            # rollups move to the new zone's days.
            session.flush()
            if repository.has_unconnected_facts(session, workspace.id):
                rollups.rebuild(session, workspace.id)
    if week_start is not None:
        workspace.week_start = _week_start(week_start)
    if reporting_currency is not None:
        workspace.reporting_currency = _currency(reporting_currency)
    session.flush()
    return workspace


def _currency(value: str) -> str | None:
    """A reporting currency: a known ISO 4217 code, or "" for none."""
    if not value:
        return None
    if not is_known_currency(value):
        raise InvalidInput(
            f"unknown currency {value[:10]!r}: use an ISO 4217 code such as EUR",
            details={"field": "reporting_currency"},
        )
    return value


def workspaces_of(session: Session, *, user_id: uuid.UUID) -> list[tuple[Workspace, Membership]]:
    return repository.workspaces_of_user(session, user_id)
