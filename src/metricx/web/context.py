"""Who is looking at a page: the signed-in user (else to the sign-in page), the workspace in
view, and the CSRF check of the page's forms (hidden field or htmx's X-CSRF-Token header)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from metricx.auth import service as auth_service
from metricx.auth.access import Principal, WorkspaceAccess, workspace_access
from metricx.auth.cookies import session_token
from metricx.auth.dependencies import CSRF_HEADER, DbSession
from metricx.auth.schemas import ApiKeyScope
from metricx.errors import Forbidden
from metricx.kit.crypto import same_secret
from metricx.models import Membership, User, UserSession, Workspace
from metricx.workspaces import repository as workspaces


class LoginRequired(Exception):
    """No valid browser session: the page answers with the sign-in page instead."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def login_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = "/login" + (f"?next={quote(exc.next_url)}" if exc.next_url not in ("", "/") else "")
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@dataclass
class Viewer:
    """The signed-in person, their session's CSRF token and their workspaces."""

    user: User
    session_row: UserSession
    memberships: list[tuple[Workspace, Membership]]

    @property
    def csrf_token(self) -> str:
        return self.session_row.csrf_token


def signed_in(request: Request, session: DbSession) -> Viewer | None:
    token = session_token(request)
    found = auth_service.session_user(session, token=token) if token else None
    if found is None:
        return None
    user, row = found
    return Viewer(user, row, workspaces.workspaces_of_user(session, user.id))


def current_viewer(request: Request, session: DbSession) -> Viewer:
    viewer = signed_in(request, session)
    if viewer is None:
        url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(url)
    return viewer


PageViewer = Annotated[Viewer, Depends(current_viewer)]


@dataclass
class WorkspaceView:
    """A workspace the viewer belongs to, with what they may do there (``auth.access``)."""

    viewer: Viewer
    access: WorkspaceAccess

    @property
    def workspace(self) -> Workspace:
        return self.access.workspace

    @property
    def can_admin(self) -> bool:
        return self.access.allows(ApiKeyScope.ADMIN)

    @property
    def can_ingest(self) -> bool:
        return self.access.allows(ApiKeyScope.INGEST)

    def require_admin(self) -> None:
        self.access.require(ApiKeyScope.ADMIN)

    @property
    def timezone(self) -> str:
        return self.viewer.user.timezone or self.workspace.timezone


def workspace_view(
    workspace_id: uuid.UUID, viewer: PageViewer, session: DbSession
) -> WorkspaceView:
    principal = Principal(user=viewer.user, user_session=viewer.session_row)
    return WorkspaceView(viewer, workspace_access(session, principal, workspace_id))


PageWorkspace = Annotated[WorkspaceView, Depends(workspace_view)]


async def csrf_checked(request: Request, viewer: PageViewer) -> Viewer:
    """State-changing page requests carry the session's CSRF token (form field or header)."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        form = await request.form()
        value = form.get("csrf_token", "")
        sent = value if isinstance(value, str) else ""
    if not same_secret(sent, viewer.csrf_token):
        raise Forbidden("this form has expired; reload the page and try again", code="csrf_failed")
    return viewer


CsrfViewer = Annotated[Viewer, Depends(csrf_checked)]
