"""The browser's side of connecting Meta ad accounts: the account choice page after Meta's
dialog, and the first sync of each account chosen."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from metricx.auth import service as auth_service
from metricx.auth.cookies import session_token
from metricx.auth.dependencies import DbSession, RuntimeDep
from metricx.config import Settings
from metricx.connections import oauth_flow
from metricx.connections.oauth_endpoints import CHOOSE_PAGE, problem, render
from metricx.errors import Forbidden, InvalidInput, MetricxError, Unauthorized
from metricx.kit.crypto import same_secret
from metricx.kit.inputs import Text
from metricx.models import Connection, User
from metricx.sync import service as sync_service

router = APIRouter(include_in_schema=False)


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


@router.get(CHOOSE_PAGE, response_class=HTMLResponse)
def choose_page(grant_id: uuid.UUID, request: Request, session: DbSession) -> Response:
    try:
        user, csrf = _browser_user(request, session)
        choice = oauth_flow.pending(session, grant_id=grant_id, user_id=user.id)
    except MetricxError as exc:
        return problem(request, exc)
    return _choose_form(choice, grant_id, csrf)


def _choose_form(
    choice: oauth_flow.PendingChoice,
    grant_id: uuid.UUID,
    csrf: str,
    *,
    error: str | None = None,
    ticked: list[str] | None = None,
) -> Response:
    """Step 2: the ad accounts of the Meta sign-in to choose from. Shown again with ``error``
    (and what was ticked) when the choice cannot be used, so Meta's dialog is not needed
    again."""
    accounts = choice.accounts
    if ticked is not None:
        accounts = [{**a, "preselected": a["id"] in ticked} for a in accounts]
    return render(
        "meta_choose.html",
        status_code=422 if error else 200,
        accounts=accounts,
        csrf_token=csrf,
        action=CHOOSE_PAGE.format(grant_id=grant_id),
        cancel_url=f"/w/{choice.grant.workspace_id}/connections",
        error=error,
    )


@router.post(CHOOSE_PAGE, response_class=HTMLResponse)
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
    except InvalidInput as exc:  # nothing ticked, or not an account of this sign-in
        try:
            choice = oauth_flow.pending(session, grant_id=grant_id, user_id=user.id)
        except MetricxError as gone:
            return problem(request, gone)
        message = exc.message[0].upper() + exc.message[1:] + "."
        return _choose_form(choice, grant_id, csrf, error=message, ticked=accounts)
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
