"""The web app mounted on the API's FastAPI app: pages, live updates, static files, and
error pages for browsers (API clients keep the JSON envelope)."""

from __future__ import annotations

import inspect

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from metricx.errors import MetricxError
from metricx.web import pages_auth, pages_connections, pages_dashboard, pages_health, sse
from metricx.web.context import LoginRequired, login_redirect, signed_in
from metricx.web.templating import STATIC_DIR, render

PAGE_ROUTERS = (
    pages_auth.router,
    pages_dashboard.router,
    pages_connections.router,
    pages_health.router,
    sse.router,
)


def is_page_request(request: Request) -> bool:
    path = request.url.path
    return (
        path == "/" or path.startswith(("/w/", "/account", "/welcome", "/switch", "/log"))
    ) and "text/html" in request.headers.get("accept", "")


def mount_web(app: FastAPI) -> None:
    """Add the pages (before other routers, so ``/`` is the web app's front door)."""
    for router in PAGE_ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(LoginRequired, login_redirect)
    json_handler = app.exception_handlers.get(MetricxError)

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MetricxError)
        if not is_page_request(request) and json_handler is not None:
            answer = json_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        runtime = request.app.state.runtime
        with runtime.sessions() as session:
            viewer = signed_in(request, session)
            return render(
                request,
                "error.html",
                status_code=exc.status_code,
                viewer=viewer,
                ws=None,
                section="",
                heading={404: "Not found", 403: "Not allowed"}.get(
                    exc.status_code, "Something went wrong"
                ),
                message=exc.message[0].upper() + exc.message[1:] + ".",
            )

    app.add_exception_handler(MetricxError, page_error)
