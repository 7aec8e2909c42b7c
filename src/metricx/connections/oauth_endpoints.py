"""The Meta OAuth flow over HTTP: authorize (302 to Meta's dialog), callback, the pending account
choice as JSON (API clients) and as a small server-rendered page (browsers)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from metricx.auth import service as auth_service
from metricx.auth.cookies import session_token
from metricx.auth.dependencies import CurrentUser, DbSession, RuntimeDep
from metricx.config import Settings
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
from metricx.kit.crypto import same_secret
from metricx.kit.inputs import Text
from metricx.models import Connection, User
from metricx.sync import service as sync_service

router = APIRouter(tags=["oauth"])
pages = APIRouter(include_in_schema=False)
CHOOSE_PAGE = "/connect/meta/{grant_id}"
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
    responses=error_responses(Unauthorized, NotFound, UpstreamError),
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


# ---- the browser page (the web issue restyles it) ----------------------------------------------


def _browser_user(request: Request, session: DbSession) -> tuple[User, str]:
    found = auth_service.session_user(session, token=session_token(request))
    if found is None:
        raise Unauthorized("sign in to metricx first, then connect again")
    user, row = found
    return user, row.csrf_token


def start_first_syncs(session: DbSession, settings: Settings, rows: list[Connection]) -> None:
    """A browser that just connected accounts sees their first sync start at once (the
    scheduler would pick them up within minutes anyway, so a refusal is not an error)."""
    for row in rows:
        try:
            with session.begin_nested():
                sync_service.request_sync(session, settings=settings, connection=row)
        except MetricxError:
            continue


@pages.get(CHOOSE_PAGE, response_class=HTMLResponse)
def choose_page(grant_id: uuid.UUID, request: Request, session: DbSession) -> Response:
    try:
        user, csrf = _browser_user(request, session)
        choice = oauth_flow.pending(session, grant_id=grant_id, user_id=user.id)
    except MetricxError as exc:
        return problem(request, exc)
    return render(
        "meta_choose.html",
        accounts=choice.accounts,
        csrf_token=csrf,
        action=CHOOSE_PAGE.format(grant_id=grant_id),
    )


@pages.post(CHOOSE_PAGE, response_class=HTMLResponse)
def choose_submit(
    grant_id: uuid.UUID,
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    account: Annotated[list[Text] | None, Form()] = None,
    csrf_token: Annotated[Text, Form()] = "",
) -> Response:
    try:
        user, csrf = _browser_user(request, session)
        if not same_secret(csrf_token, csrf):
            raise Forbidden("the form expired; open the account choice again", code="csrf_failed")
        accounts = account or []
        rows: list[Connection] = oauth_flow.choose(
            session, grant_id=grant_id, user_id=user.id, account_ids=accounts
        )
    except MetricxError as exc:
        return problem(request, exc)
    start_first_syncs(session, runtime.settings, rows)
    return render(
        "meta_result.html",
        heading="Connected",
        message=f"{len(rows)} Meta ad account(s) connected. Their campaigns and performance "
        "will be synced shortly.",
        connections=rows,
    )
