"""The one workspace access check: may this principal act in this workspace, and with what?

Every surface asks here: the API's dependencies (``auth.dependencies``), the web pages
(``web.context``), the live-update stream (``web.sse``) and the Meta OAuth flow
(``connections.oauth_flow``). Nothing else reads memberships to decide access.

The rules:
- A principal is a signed-in user or an API key. A key belongs to one workspace and holds the
  scopes it was created with; a user holds the scopes of their role in the workspace
  (``ROLE_SCOPES``).
- A workspace the principal cannot see (missing, another workspace's key, not a member, or an
  id that is not even a UUID) is ``NotFound("no such workspace")``: the answer is the same
  whether or not the workspace exists, so ids do not leak.
- A workspace the principal sees but a permission it lacks is ``Forbidden`` with the message
  the surface gives (the API's default names the scope).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from metricx.auth import repository
from metricx.auth.schemas import ApiKeyScope
from metricx.errors import Forbidden, NotFound
from metricx.models import ApiKey, Role, User, UserSession, Workspace

NO_SUCH_WORKSPACE = "no such workspace"

ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.OWNER: frozenset(s.value for s in ApiKeyScope),
    Role.ADMIN: frozenset(s.value for s in ApiKeyScope),
    Role.MEMBER: frozenset({ApiKeyScope.READ.value, ApiKeyScope.INGEST.value}),
    Role.VIEWER: frozenset({ApiKeyScope.READ.value}),
}


@dataclass
class Principal:
    """Who is asking: a signed-in user (browser session) or an API key."""

    user: User | None = None
    user_session: UserSession | None = None
    api_key: ApiKey | None = None


def scope_refusal(scope: ApiKeyScope) -> str:
    return f"this needs the {scope.value!r} permission in this workspace"


@dataclass(frozen=True)
class WorkspaceAccess:
    """A workspace the principal may use, with what it may do there: the role (a user's) or
    none (an API key), and the scopes either one holds."""

    workspace: Workspace
    principal: Principal
    role: Role | None
    scopes: frozenset[str] = field(default_factory=frozenset)

    def allows(self, scope: ApiKeyScope) -> bool:
        return scope.value in self.scopes

    def require(self, scope: ApiKeyScope, refusal: str | None = None) -> None:
        if not self.allows(scope):
            raise Forbidden(refusal or scope_refusal(scope))

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.principal.user.id if self.principal.user else None


def parse_workspace_id(value: uuid.UUID | str) -> uuid.UUID:
    """A workspace id from a path or a stored value; a malformed one names no workspace."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise NotFound(NO_SUCH_WORKSPACE) from None


def workspace_access(
    session: Session,
    principal: Principal,
    workspace_id: uuid.UUID | str,
    *,
    need: ApiKeyScope | None = None,
    refusal: str | None = None,
) -> WorkspaceAccess:
    """The principal's access to the workspace, holding ``need`` when given.

    Raises ``NotFound`` for a workspace the principal cannot see and ``Forbidden`` (with
    ``refusal``, else the scope's default message) for a missing permission."""
    ws_id = parse_workspace_id(workspace_id)
    ws = repository.workspace_by_id(session, ws_id)
    if ws is None:
        raise NotFound(NO_SUCH_WORKSPACE)
    if principal.api_key is not None:
        if principal.api_key.workspace_id != ws.id:
            raise NotFound(NO_SUCH_WORKSPACE)
        access = WorkspaceAccess(ws, principal, None, frozenset(principal.api_key.scopes))
    elif principal.user is not None:
        membership = repository.membership(session, ws.id, principal.user.id)
        if membership is None:
            raise NotFound(NO_SUCH_WORKSPACE)
        access = WorkspaceAccess(ws, principal, membership.role, ROLE_SCOPES[membership.role])
    else:
        raise NotFound(NO_SUCH_WORKSPACE)
    if need is not None:
        access.require(need, refusal)
    return access


def user_access(
    session: Session,
    *,
    user_id: uuid.UUID,
    workspace_id: uuid.UUID | str,
    need: ApiKeyScope | None = None,
    refusal: str | None = None,
) -> WorkspaceAccess:
    """``workspace_access`` for a user known by id (a flow that stored who started it)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(NO_SUCH_WORKSPACE)
    return workspace_access(session, Principal(user=user), workspace_id, need=need, refusal=refusal)
