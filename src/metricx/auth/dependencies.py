"""Typed request dependencies: the database session, who is asking, and workspace access.

Those that only look at what another dependency found are ``async``: FastAPI runs a plain
function dependency in the thread pool, and each such hop waits for the interpreter again,
which a busy server makes a dashboard question pay several times over."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from metricx.auth import service
from metricx.auth.access import ROLE_SCOPES as ROLE_SCOPES  # re-exported for endpoints
from metricx.auth.access import Principal, WorkspaceAccess, workspace_access
from metricx.auth.cookies import session_token
from metricx.auth.schemas import ApiKeyScope
from metricx.db import unit_of_work
from metricx.errors import DatabaseUnavailable, Forbidden, NotFound, Unauthorized, raises
from metricx.kit.crypto import same_secret
from metricx.models import User
from metricx.runtime import Runtime

CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@raises(DatabaseUnavailable)
def db_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed after the endpoint, rolled back if it raised.

    Its scope is the endpoint function, so the commit lands before the response is sent: a
    client (or a browser following a redirect) never reads before the write it was told of,
    and a failed commit is an error, not a success already sent."""
    with unit_of_work(get_runtime(request).sessions) as session:
        yield session


DbSession = Annotated[Session, Depends(db_session, scope="function")]


def read_session(request: Request, session: DbSession) -> Iterator[Session]:
    """A session for the query layer's reads: the read replica's while it is close enough
    behind the primary (``metricx.replicas``), else the request's own session. What the
    reads must write (a job they queue) goes through the request's session, on the primary."""
    factory, where = get_runtime(request).read_sessions()
    request.state.read_from = where
    if factory is get_runtime(request).sessions:
        yield session
        return
    with factory() as replica:
        try:
            yield replica
        finally:
            replica.rollback()


ReadSession = Annotated[Session, Depends(read_session, scope="function")]


async def runtime_dependency(request: Request) -> Runtime:
    return get_runtime(request)


RuntimeDep = Annotated[Runtime, Depends(runtime_dependency)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
    return value.strip()


@raises(Unauthorized, Forbidden)  # an unknown API key; a missing CSRF token
def optional_principal(request: Request, session: DbSession) -> Principal | None:
    key = bearer_token(request)
    if key is not None:
        api_key = service.api_key_for(session, key=key)
        if api_key is None:
            raise Unauthorized("unknown or revoked API key")
        return Principal(api_key=api_key)
    cookie = session_token(request)
    if not cookie:
        return None
    found = service.session_user(session, token=cookie)
    if found is None:
        return None
    user, row = found
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not same_secret(sent, row.csrf_token):
            raise Forbidden(
                "missing or wrong CSRF token (send the X-CSRF-Token header)", code="csrf_failed"
            )
    return Principal(user=user, user_session=row)


@raises(Unauthorized)
async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("sign in or send 'Authorization: Bearer <api key>'")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


@raises(Forbidden)
async def current_user(principal: CurrentPrincipal) -> User:
    if principal.user is None:
        raise Forbidden("this needs a signed-in user, not an API key")
    return principal.user


CurrentUser = Annotated[User, Depends(current_user)]


@raises(NotFound)
def workspace_member(
    workspace_id: Annotated[uuid.UUID, Path(description="The workspace's id.")],
    principal: CurrentPrincipal,
    session: DbSession,
) -> WorkspaceAccess:
    """The workspace, if the principal belongs to it; otherwise 404, exactly as if missing."""
    return workspace_access(session, principal, workspace_id)


WorkspaceMember = Annotated[WorkspaceAccess, Depends(workspace_member)]


def scoped(scope: ApiKeyScope):  # type: ignore[no-untyped-def]
    """A dependency: workspace access that also holds ``scope``."""

    @raises(Forbidden)
    async def dependency(access: WorkspaceMember) -> WorkspaceAccess:
        access.require(scope)
        return access

    return Depends(dependency)


WorkspaceReader = Annotated[WorkspaceAccess, scoped(ApiKeyScope.READ)]
WorkspaceIngester = Annotated[WorkspaceAccess, scoped(ApiKeyScope.INGEST)]
WorkspaceAdmin = Annotated[WorkspaceAccess, scoped(ApiKeyScope.ADMIN)]
