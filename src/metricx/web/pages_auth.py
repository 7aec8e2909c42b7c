"""Sign in and out, the front door, the workspace switcher and the viewer's preferences."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from metricx.auth import service as auth_service
from metricx.auth.cookies import clear_session_cookie, set_session_cookie
from metricx.auth.dependencies import DbSession, RuntimeDep
from metricx.errors import Forbidden
from metricx.kit.inputs import Text
from metricx.kit.tz import is_valid_timezone
from metricx.runtime import Runtime
from metricx.web.context import CsrfViewer, PageViewer, signed_in
from metricx.web.login_csrf import (
    forget_login_form_token,
    issue_login_form_token,
    login_form_token_matches,
)
from metricx.web.templating import render
from metricx.web.timezones import timezone_choices
from metricx.workspaces.service import create_workspace

router = APIRouter(include_in_schema=False)
SECTIONS = ("dashboard", "connections", "health")


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never an absolute URL (an open redirect).
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/")
def front_door(request: Request, session: DbSession) -> Response:
    viewer = signed_in(request, session)
    if viewer is None:
        return RedirectResponse("/login", status_code=303)
    if not viewer.memberships:
        return RedirectResponse("/welcome", status_code=303)
    return RedirectResponse(f"/w/{viewer.memberships[0][0].id}", status_code=303)


def _login_form(
    request: Request,
    runtime: Runtime,
    *,
    next: str | None,
    status_code: int = 200,
    email: str = "",
    error: str | None = None,
) -> Response:
    """The sign-in page, its form carrying a CSRF token bound to a signed cookie."""
    form_token = issue_login_form_token(runtime, request)
    page = render(
        request,
        "login.html",
        status_code=status_code,
        next=_safe_next(next),
        email=email,
        error=error,
        csrf_token=form_token.token,
    )
    form_token.set_on(runtime, page)
    return page


@router.get("/login")
def login_page(request: Request, runtime: RuntimeDep, next: str | None = None) -> Response:
    return _login_form(request, runtime, next=next)


MAX_PASSWORD, MAX_EMAIL = 1000, 320  # as the JSON sign-in API allows


@router.post("/login")
def login_submit(
    request: Request,
    session: DbSession,
    runtime: RuntimeDep,
    email: Annotated[Text, Form()] = "",
    password: Annotated[Text, Form()] = "",
    next: Annotated[Text, Form()] = "/",
    csrf_token: Annotated[Text, Form()] = "",
) -> Response:
    if not login_form_token_matches(runtime, request, csrf_token):
        # Not this site's form (login CSRF), or one left open too long: nobody is signed
        # in and nothing is counted. A browser gets a fresh form, anything else the JSON.
        expired = "this sign-in form has expired; reload the page and try again"
        if "text/html" not in request.headers.get("accept", ""):
            raise Forbidden(expired, code="csrf_failed")
        error = expired[0].upper() + expired[1:] + "."
        return _login_form(
            request, runtime, next=next, status_code=403, email=email[:MAX_EMAIL], error=error
        )
    if len(password) > MAX_PASSWORD or len(email) > MAX_EMAIL:  # never hash a huge value
        return _login_form(
            request,
            runtime,
            next=next,
            status_code=400,
            email=email[:MAX_EMAIL],
            error="The e-mail or password is too long.",
        )
    attempt = auth_service.authenticate(
        session, email=email.strip(), password=password, secret_key=runtime.secret_key
    )
    if attempt.user is None:
        message = attempt.error.message if attempt.error else "wrong e-mail or password"
        page = _login_form(
            request,
            runtime,
            # 429 with Retry-After once repeated failures lock the address, as the API says
            status_code=attempt.error.status_code if attempt.error else 401,
            next=next,
            email=email,
            error=message[0].upper() + message[1:] + ".",
        )
        page.headers.update((attempt.error.headers or {}) if attempt.error else {})
        return page
    new = auth_service.start_session(
        session, user=attempt.user, max_age_seconds=runtime.settings.session_max_age_seconds
    )
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, runtime.settings, new.token)
    forget_login_form_token(runtime, response)
    return response


@router.post("/logout")
def logout(viewer: CsrfViewer, session: DbSession, runtime: RuntimeDep) -> Response:
    auth_service.end_session(session, row=viewer.session_row)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, runtime.settings)
    return response


@router.get("/switch")
def switch_workspace(
    viewer: PageViewer,
    workspace: Annotated[uuid.UUID, Query()],
    section: Annotated[str, Query()] = "dashboard",
) -> Response:
    """The workspace switcher (a plain GET form, so it works without script)."""
    section = section if section in SECTIONS else "dashboard"
    suffix = "" if section == "dashboard" else f"/{section}"
    return RedirectResponse(f"/w/{workspace}{suffix}", status_code=303)


@router.get("/welcome")
def welcome(request: Request, viewer: PageViewer) -> Response:
    return render(request, "welcome.html", viewer=viewer, error=None, ws_name="", timezone="UTC")


MAX_WORKSPACE_NAME = 200


@router.post("/welcome")
def create_first_workspace(
    request: Request,
    viewer: CsrfViewer,
    session: DbSession,
    name: Annotated[Text, Form()] = "",
    timezone: Annotated[Text, Form()] = "UTC",
) -> Response:
    problem = None
    if not name.strip():
        problem = "Give the workspace a name."
    elif len(name.strip()) > MAX_WORKSPACE_NAME:
        problem = f"Keep the name to {MAX_WORKSPACE_NAME} characters."
    elif not is_valid_timezone(timezone):
        problem = f"Unknown time zone {timezone!r}: use a name such as Europe/Berlin or UTC."
    if problem is not None:
        # What was typed stays in the form, to be corrected rather than typed again.
        return render(
            request,
            "welcome.html",
            status_code=422,
            viewer=viewer,
            error=problem,
            ws_name=name,
            timezone=timezone,
        )
    ws = create_workspace(session, name=name.strip(), owner_id=viewer.user.id, timezone=timezone)
    return RedirectResponse(f"/w/{ws.id}/connections", status_code=303)


@router.get("/account")
def account_page(request: Request, viewer: PageViewer, saved: bool = False) -> Response:
    return render(
        request,
        "account.html",
        viewer=viewer,
        current=None,
        zones=timezone_choices(viewer.user.timezone),
        saved=saved,
        error=None,
    )


@router.post("/account")
def account_save(
    request: Request,
    viewer: CsrfViewer,
    session: DbSession,
    timezone: Annotated[Text, Form()] = "",
) -> Response:
    """The viewer's time zone: dashboards open in it (empty: each workspace's own)."""
    if timezone and not is_valid_timezone(timezone):
        return render(
            request,
            "account.html",
            status_code=422,
            viewer=viewer,
            current=None,
            zones=timezone_choices(viewer.user.timezone),
            saved=False,
            error=f"Unknown time zone {timezone!r}.",
        )
    viewer.user.timezone = timezone or None
    session.flush()
    return RedirectResponse("/account?saved=1", status_code=303)
