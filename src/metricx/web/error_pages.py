"""Error pages for browsers: a page in the app's layout with the right status and a way back
(the dashboard when signed in, else the sign-in page). API clients keep the JSON envelope:
only a request outside /api/ that asks for HTML gets a page."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from metricx.auth.dependencies import db_session
from metricx.web.context import Viewer, signed_in
from metricx.web.templating import render

HEADINGS = {
    400: "That request did not work",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    422: "That value is not valid",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
NOT_PAGES = ("/api/", "/static/")


def is_page_request(request: Request) -> bool:
    """A browser asking for a page: outside the API and the static files, accepting HTML."""
    path = request.url.path
    return not path.startswith(NOT_PAGES) and "text/html" in request.headers.get("accept", "")


def sentence(message: str) -> str:
    """An error message as a sentence: capital first letter, a full stop."""
    message = message.strip() or "something went wrong"
    text = message[0].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


@contextmanager
def _page_session(request: Request) -> Iterator[Session]:
    """The pages' own unit of work (``db_session``, or what replaces it in tests)."""
    provider = request.app.dependency_overrides.get(db_session, db_session)
    sessions = provider(request) if inspect.signature(provider).parameters else provider()
    try:
        yield next(sessions)
    finally:
        sessions.close()


def way_back(viewer: Viewer | None, known: bool) -> tuple[str, str]:
    """(address, label) of the page's button: the first dashboard, the welcome page or sign-in;
    ``/`` (which sends each to the right one) when who is looking is not known."""
    if not known:
        return "/", "Back to metricx"
    if viewer is None:
        return "/login", "Sign in"
    if not viewer.memberships:
        return "/welcome", "Create a workspace"
    return f"/w/{viewer.memberships[0][0].id}", "Back to the dashboard"


def _render(
    request: Request,
    status_code: int,
    message: str,
    heading: str | None,
    viewer: Viewer | None,
    *,
    known: bool,
) -> HTMLResponse:
    href, label = way_back(viewer, known)
    return render(
        request,
        "error.html",
        status_code=status_code,
        viewer=viewer,
        ws=None,
        section="",
        heading=heading or HEADINGS.get(status_code, "Something went wrong"),
        message=sentence(message),
        status=status_code,
        back_href=href,
        back_label=label,
    )


def error_page(
    request: Request,
    status_code: int,
    message: str,
    *,
    heading: str | None = None,
    look_up_viewer: bool = True,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The error page. ``look_up_viewer=False`` renders it without the database (a 500, a
    database that is down): the button then leads to ``/``."""
    if look_up_viewer:
        try:
            with _page_session(request) as session:  # rendered while the viewer is loaded
                viewer = signed_in(request, session)
                page = _render(request, status_code, message, heading, viewer, known=True)
        except Exception:  # who is looking cannot be told: the page without them
            page = _render(request, status_code, message, heading, None, known=False)
    else:
        page = _render(request, status_code, message, heading, None, known=False)
    page.headers.update(headers or {})
    return page
