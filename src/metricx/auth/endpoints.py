"""Sign-in, sign-out, who am I, and a workspace's API keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from metricx.auth import service
from metricx.auth.cookies import clear_session_cookie, set_session_cookie
from metricx.auth.dependencies import (
    CurrentPrincipal,
    CurrentUser,
    DbSession,
    RuntimeDep,
    WorkspaceAdmin,
)
from metricx.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    LoginRequest,
    SessionRead,
    UserRead,
)
from metricx.errors import (
    Conflict,
    ErrorEnvelope,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
    envelope,
    error_responses,
)
from metricx.kit.inputs import MAX_OFFSET

router = APIRouter(tags=["auth"])


def json_only(request: Request) -> None:
    """Sign-in takes JSON only: a body without a JSON Content-Type is what another site can
    send cross-origin without a preflight (login CSRF), so it is refused."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise InvalidInput(
            "send the sign-in as Content-Type: application/json",
            details=[{"field": "content-type", "reason": "must be application/json"}],
            status_code=415,
        )


@router.post(
    "/auth/login",
    response_model=SessionRead,
    responses={
        **error_responses(Unauthorized, TooManyRequests, InvalidInput),
        415: {"model": ErrorEnvelope, "description": "The body is not application/json"},
    },
    dependencies=[Depends(json_only)],
)
def login(
    body: LoginRequest, response: Response, session: DbSession, runtime: RuntimeDep
) -> SessionRead:
    """Sign in with e-mail and password. Sets the HttpOnly session cookie and returns the CSRF
    token that state-changing browser requests must send as ``X-CSRF-Token``."""
    attempt = service.authenticate(
        session, email=body.email, password=body.password, secret_key=runtime.secret_key
    )
    if attempt.error is not None or attempt.user is None:
        error = attempt.error or Unauthorized("wrong e-mail or password")
        return JSONResponse(  # type: ignore[return-value]
            envelope(error.code, error.message, error.details),
            status_code=error.status_code,
            headers=error.headers,
        )
    user = attempt.user
    new = service.start_session(
        session, user=user, max_age_seconds=runtime.settings.session_max_age_seconds
    )
    set_session_cookie(response, runtime.settings, new.token)
    return SessionRead(user=UserRead.model_validate(user), csrf_token=new.row.csrf_token)


@router.post("/auth/logout", status_code=204, responses=error_responses(Unauthorized))
def logout(
    principal: CurrentPrincipal, response: Response, session: DbSession, runtime: RuntimeDep
) -> Response:
    """End the browser session."""
    if principal.user_session is not None:
        service.end_session(session, row=principal.user_session)
    clear_session_cookie(response, runtime.settings)
    response.status_code = 204
    return response


@router.get("/auth/me", response_model=UserRead, responses=error_responses(Unauthorized, Forbidden))
def me(user: CurrentUser) -> UserRead:
    """The signed-in user."""
    return UserRead.model_validate(user)


@router.post(
    "/workspaces/{workspace_id}/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict),
)
def create_api_key(body: ApiKeyCreate, access: WorkspaceAdmin, session: DbSession) -> ApiKeyCreated:
    """Create an API key for this workspace. The key is in this answer only; store it now."""
    new = service.create_api_key(
        session,
        workspace_id=access.workspace.id,
        name=body.name,
        scopes=body.scopes,
        created_by=access.user_id,
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(new.row).model_dump(), key=new.key)


@router.get(
    "/workspaces/{workspace_id}/api-keys",
    response_model=list[ApiKeyRead],
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def list_api_keys(
    access: WorkspaceAdmin,
    session: DbSession,
    revoked: Annotated[
        bool | None, Query(description="Only revoked keys (true) or only live ones (false).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[ApiKeyRead]:
    """This workspace's API keys (never the keys themselves), oldest first, a page at a time:
    revoked keys stay listed, so a workspace's list only grows."""
    rows = service.list_api_keys(
        session, workspace_id=access.workspace.id, revoked=revoked, limit=limit, offset=offset
    )
    return [ApiKeyRead.model_validate(r) for r in rows]


@router.delete(
    "/workspaces/{workspace_id}/api-keys/{key_id}",
    response_model=ApiKeyRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def revoke_api_key(key_id: uuid.UUID, access: WorkspaceAdmin, session: DbSession) -> ApiKeyRead:
    """Revoke an API key: it is refused from the next request on."""
    row = service.revoke_api_key(session, workspace_id=access.workspace.id, key_id=key_id)
    return ApiKeyRead.model_validate(row)
