"""The Meta OAuth flow over HTTP: authorize (302 to Meta's dialog), callback and the pending
account choice as JSON (API clients). Browsers choose on ``web/pages_connect.py``, which also
starts the first syncs (the sync domain sits above this one)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from metricx.auth.dependencies import CurrentUser, DbSession, RuntimeDep
from metricx.connections import oauth_flow
from metricx.connections.endpoints import read
from metricx.connections.schemas import (
    AccountChoice,
    ConnectionList,
    PendingAccount,
    PendingRead,
)
from metricx.errors import (
    Forbidden,
    InvalidInput,
    MetricxError,
    NotFound,
    Unauthorized,
    UpstreamError,
    envelope,
    error_responses,
)

router = APIRouter(tags=["oauth"])
CHOOSE_PAGE = "/connect/meta/{grant_id}"
# Where a browser that cancelled Meta's dialog lands: its workspace's Connections page, told
# why (a fixed word, never text from the request), with the way to try again.
CANCELLED_PAGE = "/w/{workspace_id}/connections?connect=cancelled"
templates = Environment(
    loader=PackageLoader("metricx.connections", "templates"),
    autoescape=select_autoescape(["html"]),
)


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status_code)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def problem(request: Request, exc: MetricxError) -> Response:
    if wants_html(request):
        return render(
            "meta_result.html",
            status_code=exc.status_code,
            heading="Meta account not connected",
            message=exc.message,
            error=True,
        )
    return JSONResponse(envelope(exc.code, exc.message, exc.details), status_code=exc.status_code)


@router.get(
    "/auth/meta/authorize",
    status_code=302,
    responses=error_responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def authorize(
    workspace_id: Annotated[uuid.UUID, Query(description="The workspace to connect into.")],
    user: CurrentUser,
    session: DbSession,
    runtime: RuntimeDep,
    connection_id: Annotated[
        uuid.UUID | None, Query(description="Renew this connection's token (reconnect).")
    ] = None,
) -> RedirectResponse:
    """Start connecting Meta ad accounts: redirects to Meta's login dialog with the configured
    scopes and a signed, single-use state (10 minutes) bound to you and the workspace. Needs a
    signed-in member with the admin permission."""
    url = oauth_flow.start_authorization(
        session,
        settings=runtime.settings,
        secret_key=runtime.secret_key,
        user_id=user.id,
        workspace_id=workspace_id,
        reconnect_connection_id=connection_id,
    )
    return RedirectResponse(url, status_code=302)


@router.get(
    "/auth/meta/callback",
    status_code=303,
    responses={
        **error_responses(Unauthorized, NotFound, UpstreamError, oauth_flow.OAuthFailed),
        200: {
            "description": "For a client that does not ask for HTML: the pending choice",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["pending_id", "choose_url", "accounts"],
                        "properties": {
                            "pending_id": {"type": "string", "format": "uuid"},
                            "choose_url": {"type": "string"},
                            "accounts": {"type": "array", "items": {"type": "object"}},
                        },
                    }
                }
            },
        },
    },
)
def callback(
    request: Request, user: CurrentUser, session: DbSession, runtime: RuntimeDep
) -> Response:
    """Where Meta's dialog returns. Checks the state, exchanges the code for a long-lived token,
    reads its expiry and scopes, lists its ad accounts and stores it encrypted; then sends the
    browser to the account choice. Denied consent, a bad or replayed state or a failed
    exchange answer a plain error (HTML for browsers, JSON otherwise) and store nothing."""
    try:
        grant = oauth_flow.handle_callback(
            session,
            settings=runtime.settings.interactive(),
            cipher=runtime.cipher,
            secret_key=runtime.secret_key,
            user_id=user.id,
            params=dict(request.query_params),
        )
    except oauth_flow.OAuthDenied as exc:
        if wants_html(request):
            target = CANCELLED_PAGE.format(workspace_id=exc.workspace_id)
            return RedirectResponse(target, status_code=303)
        return problem(request, exc)
    except MetricxError as exc:
        return problem(request, exc)
    target = CHOOSE_PAGE.format(grant_id=grant.id)
    if wants_html(request):
        return RedirectResponse(target, status_code=303)
    return JSONResponse(
        {"pending_id": str(grant.id), "choose_url": target, "accounts": grant.accounts}
    )


@router.get(
    "/auth/meta/pending/{pending_id}",
    response_model=PendingRead,
    responses=error_responses(Unauthorized, NotFound),
)
def get_pending(pending_id: uuid.UUID, user: CurrentUser, session: DbSession) -> PendingRead:
    """The ad accounts of a finished Meta sign-in, waiting to be chosen."""
    choice = oauth_flow.pending(session, grant_id=pending_id, user_id=user.id)
    return PendingRead(
        id=choice.grant.id,
        workspace_id=choice.grant.workspace_id,
        expires_at=choice.grant.expires_at,
        accounts=[PendingAccount(**a) for a in choice.accounts],
    )


@router.post(
    "/auth/meta/pending/{pending_id}",
    status_code=201,
    response_model=ConnectionList,
    responses=error_responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def choose_accounts(
    pending_id: uuid.UUID, body: AccountChoice, user: CurrentUser, session: DbSession
) -> ConnectionList:
    """Connect the chosen accounts (an account already connected keeps its connection)."""
    rows = oauth_flow.choose(
        session, grant_id=pending_id, user_id=user.id, account_ids=body.accounts
    )
    return ConnectionList(connections=[read(r) for r in rows])
