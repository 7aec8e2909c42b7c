"""The web app mounted on the API's FastAPI app: pages, live updates, static files, and
error pages for browsers (API clients keep the JSON envelope)."""

from __future__ import annotations

import inspect

from fastapi import FastAPI, Request
from fastapi.responses import Response

from metricx.errors import MetricxError
from metricx.web import (
    assets,
    dashboard_currency,
    pages_auth,
    pages_connections,
    pages_creatives,
    pages_dashboard,
    pages_export,
    pages_health,
    pages_views,
    sse,
)
from metricx.web.context import LoginRequired, login_redirect
from metricx.web.error_pages import error_page, is_page_request

PAGE_ROUTERS = (
    pages_auth.router,
    pages_dashboard.router,
    pages_creatives.router,
    pages_export.router,
    pages_views.router,
    dashboard_currency.router,
    pages_connections.router,
    pages_health.router,
    sse.router,
)

__all__ = ["is_page_request", "mount_web"]


def mount_web(app: FastAPI) -> None:
    """Add the pages (before other routers, so ``/`` is the web app's front door)."""
    for router in PAGE_ROUTERS:
        app.include_router(router)
    assets.mount(app)
    app.add_exception_handler(LoginRequired, login_redirect)
    json_handler = app.exception_handlers.get(MetricxError)

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MetricxError)
        if not is_page_request(request) and json_handler is not None:
            answer = json_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        return error_page(request, exc.status_code, exc.message, headers=exc.headers)

    app.add_exception_handler(MetricxError, page_error)
