"""Saved dashboard views: a name for the page's question (its URL), shared by the workspace;
saving a name again replaces what it holds."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from metricx.auth.dependencies import DbSession
from metricx.errors import Forbidden, InvalidInput, NotFound
from metricx.kit.inputs import Text
from metricx.web import repository
from metricx.web.context import CsrfViewer, PageWorkspace, WorkspaceView
from metricx.web.dashboard_view import DashboardFilters, InvalidTimezone

router = APIRouter(include_in_schema=False)
NAME_MAX = 100
QUERY_MAX = 4000  # the column's size


def _may_change(ws: WorkspaceView) -> None:
    """Saved views are the workspace's: members change them, viewers only open them."""
    if not ws.can_ingest:
        raise Forbidden("viewers open saved views; a member saves or deletes them")


def _go(request: Request, url: str) -> Response:
    """To ``url``: htmx loads it (HX-Redirect), a plain form follows a redirect."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.post("/w/{workspace_id}/views")
def save_view(
    request: Request,
    ws: PageWorkspace,
    viewer: CsrfViewer,
    session: DbSession,
    name: Annotated[Text, Form()] = "",
    query: Annotated[Text, Form()] = "",
) -> Response:
    """Saves the page's question (``query``, its URL's query string) under ``name``; the
    question is parsed and written back as the page writes it, so only known choices keep."""
    _may_change(ws)
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("give the view a name", details={"field": "name"})
    if len(name) > NAME_MAX:
        raise InvalidInput(f"a view's name has at most {NAME_MAX} characters")
    try:
        filters = DashboardFilters.parse(dict(parse_qsl(query)))
    except InvalidTimezone as exc:  # kept as the page shows it: without the unknown zone
        filters = exc.filters
    canonical = urlencode(filters.params())
    if len(canonical) > QUERY_MAX:
        raise InvalidInput("this view has too many choices to save; narrow its filters")
    repository.save_view(session, ws.workspace.id, name, canonical, viewer.user.id)
    return _go(request, f"/w/{ws.workspace.id}?{canonical}")


@router.post("/w/{workspace_id}/views/{view_id}/delete")
def delete_view(
    request: Request,
    view_id: uuid.UUID,
    ws: PageWorkspace,
    _viewer: CsrfViewer,
    session: DbSession,
) -> Response:
    _may_change(ws)
    if not repository.delete_saved_view(session, ws.workspace.id, view_id):
        raise NotFound("no such saved view")
    return _go(request, f"/w/{ws.workspace.id}")
